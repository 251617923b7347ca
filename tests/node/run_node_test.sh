#!/usr/bin/env bash
# Runs one Node.js test file against the real binaries: the fake myPOS and
# token_server on loopback ports they pick. The Node code shares nothing
# with ours: it loads the API from proto/ (and grpc.* protos from Debian's
# grpc-proto), with @grpc/grpc-js and @grpc/proto-loader from npm.
#
#   run_node_test.sh FILE.js
#
# node_modules comes from `npm ci` in tests/node (scripts/test.sh runs it);
# it is found next to this package's package.json in the source tree, or at
# $TOKENSERVICE_NODE_MODULES.
set -euo pipefail

RUNFILES="${TEST_SRCDIR}/${TEST_WORKSPACE}"
TMP="${TEST_TMPDIR}"
CLIENT_ID="node-client"
CANARY_SECRET="canary-node-secret-c41f"
fail() { echo "FAIL: $*" >&2; exit 1; }

command -v node >/dev/null ||
  fail "node is not installed (scripts/install_deps.sh installs nodejs)"
if [[ -n "${TOKENSERVICE_NODE_MODULES:-}" ]]; then
  NODE_MODULES="${TOKENSERVICE_NODE_MODULES}"
else
  # package.json in runfiles links back to the source tree.
  NODE_MODULES="$(dirname "$(readlink -f "${RUNFILES}/tests/node/package.json")")/node_modules"
fi
for package in @grpc/grpc-js @grpc/proto-loader protobufjs; do
  [[ -f "${NODE_MODULES}/${package}/package.json" ]] || fail \
    "${package} missing in ${NODE_MODULES}: run 'npm ci' in tests/node (scripts/test.sh does)"
done

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_for_file() {
  for _ in $(seq 200); do [[ -s "$1" ]] && return 0; sleep 0.05; done
  fail "$1 never appeared"
}

"${RUNFILES}/fake_mypos/fake_mypos" --port_file="${TMP}/fake.port" \
  --client_id="${CLIENT_ID}" --client_secret="${CANARY_SECRET}" \
  >"${TMP}/fake.log" 2>&1 &
pids+=($!)
wait_for_file "${TMP}/fake.port"
FAKE_URL="http://127.0.0.1:$(cat "${TMP}/fake.port")"

MYPOS_CLIENT_ID="${CLIENT_ID}" MYPOS_CLIENT_SECRET="${CANARY_SECRET}" \
  "${RUNFILES}/server/token_server" --listen=127.0.0.1:0 \
  --port_file="${TMP}/server.port" \
  --token_url="${FAKE_URL}/oauth/token" --revoke_url="${FAKE_URL}/oauth/revoke" \
  2>"${TMP}/server.log" &
server_pid=$!
pids+=(${server_pid})
wait_for_file "${TMP}/server.port"

export NODE_PATH="${NODE_MODULES}"
export TOKENSERVICE_TARGET="127.0.0.1:$(cat "${TMP}/server.port")"
export TOKENSERVICE_PID="${server_pid}"  # for tests that watch its memory
export FAKE_MYPOS_URL="${FAKE_URL}"
export FAKE_MYPOS_CLIENT_ID="${CLIENT_ID}"
export FAKE_MYPOS_CLIENT_SECRET="${CANARY_SECRET}"
export API_PROTO_ROOT="${RUNFILES}"           # proto/token_service.proto
export GRPC_PROTO_ROOT="/usr/share/grpc-proto"  # Debian's grpc-proto
export TOKENS_SEEN_FILE="${TMP}/tokens_seen"
: >"${TOKENS_SEEN_FILE}"

node --test "${RUNFILES}/tests/node/$1"

# Neither the secret nor any token the test saw reaches the server's log.
if grep -qF "${CANARY_SECRET}" "${TMP}/server.log"; then fail "secret in server log"; fi
while read -r token; do
  [[ -z "${token}" ]] && continue
  if grep -qF "${token}" "${TMP}/server.log"; then fail "a token is in the server log"; fi
done <"${TOKENS_SEEN_FILE}"
echo "PASS"
