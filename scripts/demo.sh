#!/usr/bin/env bash
# Installs what is missing, builds, starts the fake myPOS and TokenService on
# loopback, runs an issue -> issue (cached) -> revoke round trip with
# tokenctl, and leaves both servers running for you to try.
#
#   scripts/demo.sh        start (restarting a previous demo)
#   scripts/demo.sh stop   stop the demo's servers
#
# Ports: TokenService on 127.0.0.1:${DEMO_PORT:-50051}; the fake myPOS on a
# free loopback port. Logs and pid files in ${DEMO_DIR:-/tmp/tokenservice-demo}.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_DIR="${DEMO_DIR:-/tmp/tokenservice-demo}"
DEMO_PORT="${DEMO_PORT:-50051}"
TARGET="127.0.0.1:${DEMO_PORT}"

stop() {
  for name in token_server fake_mypos; do
    if [[ -f "${DEMO_DIR}/${name}.pid" ]]; then
      kill "$(cat "${DEMO_DIR}/${name}.pid")" 2>/dev/null || true
      rm -f "${DEMO_DIR}/${name}.pid"
    fi
  done
}

if [[ "${1:-}" == "stop" ]]; then
  stop
  echo "demo stopped"
  exit 0
fi

bash scripts/install_deps.sh --build-only  # the demo needs no test tools
bazel build //server:token_server //fake_mypos:fake_mypos //client:tokenctl
BIN="$(bazel info bazel-bin 2>/dev/null)"
stop
mkdir -p "${DEMO_DIR}"
cp -f "${BIN}/server/token_server" "${BIN}/fake_mypos/fake_mypos" \
  "${BIN}/client/tokenctl" "${DEMO_DIR}/"
rm -f "${DEMO_DIR}/fake_mypos.port"
setsid "${DEMO_DIR}/fake_mypos" --port_file="${DEMO_DIR}/fake_mypos.port" \
  --client_id=demo-client --client_secret=demo-secret \
  >"${DEMO_DIR}/fake_mypos.log" 2>&1 < /dev/null &
echo $! >"${DEMO_DIR}/fake_mypos.pid"
for _ in $(seq 50); do
  [[ -s "${DEMO_DIR}/fake_mypos.port" ]] && break
  sleep 0.1
done
FAKE="http://127.0.0.1:$(cat "${DEMO_DIR}/fake_mypos.port")"

MYPOS_CLIENT_ID=demo-client MYPOS_CLIENT_SECRET=demo-secret \
  setsid "${DEMO_DIR}/token_server" --listen="${TARGET}" \
  --admin_listen=127.0.0.1:${DEMO_ADMIN_PORT:-9090} \
  --token_url="${FAKE}/oauth/token" --revoke_url="${FAKE}/oauth/revoke" \
  >"${DEMO_DIR}/token_server.log" 2>&1 < /dev/null &
echo $! >"${DEMO_DIR}/token_server.pid"

ctl() { "${DEMO_DIR}/tokenctl" --target="${TARGET}" "$@"; }
for _ in $(seq 100); do
  ctl health >/dev/null 2>&1 && break
  sleep 0.1
done

echo
echo "== fake myPOS at ${FAKE}; TokenService at ${TARGET}"
echo "== tokenctl health"
ctl health
echo "== tokenctl issue --scopes=webhooks   (a token from the fake myPOS)"
ctl issue --scopes=webhooks
echo "== tokenctl issue --scopes=webhooks   (the same token, from the cache)"
ctl --json issue --scopes=webhooks | tee "${DEMO_DIR}/issue.json"
fp="$(sed -n 's/.*"fingerprint":"\([0-9a-f]*\)".*/\1/p' "${DEMO_DIR}/issue.json")"
echo "== tokenctl revoke --fingerprint=${fp}"
ctl revoke --fingerprint="${fp}"
echo "== tokenctl info --fingerprint=${fp}"
ctl info --fingerprint="${fp}"

cat <<MSG

The servers are still running (logs in ${DEMO_DIR}). Try:

  ${DEMO_DIR}/tokenctl --target=${TARGET} issue --scopes=webhooks
  ${DEMO_DIR}/tokenctl --target=${TARGET} list

or with grpcurl (server reflection is on):

  grpcurl -plaintext ${TARGET} list
  grpcurl -plaintext ${TARGET} describe mypos.token.v1.TokenService
  grpcurl -plaintext -d '{"service":"mypos.token.v1.TokenService"}' ${TARGET} grpc.health.v1.Health/Check
  grpcurl -plaintext -d '{"scopes":["webhooks"]}' ${TARGET} mypos.token.v1.TokenService/Issue
  grpcurl -plaintext -d '{"fingerprint":"FP"}' ${TARGET} mypos.token.v1.TokenService/Revoke

Metrics: http://127.0.0.1:${DEMO_ADMIN_PORT:-9090}/metrics (and /healthz).

Stop them with: scripts/demo.sh stop
MSG
