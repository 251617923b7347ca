#!/usr/bin/env bash
# The three binaries as an operator runs them: fake_mypos and token_server
# on loopback ports they pick, tokenctl against them. Checks the round trip,
# exit codes, SIGTERM's drain, that bad configuration stops start-up with one line
# naming the problem, and that a port already in use stops it with exit 1.
set -euo pipefail

RUNFILES="${TEST_SRCDIR}/${TEST_WORKSPACE}"
FAKE="${RUNFILES}/fake_mypos/fake_mypos"
SERVER="${RUNFILES}/server/token_server"
CTL="${RUNFILES}/client/tokenctl"
TMP="${TEST_TMPDIR}"
CANARY_SECRET="canary-e2e-secret-41d2"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

wait_for_file() {
  for _ in $(seq 200); do [[ -s "$1" ]] && return 0; sleep 0.05; done
  fail "$1 never appeared"
}

# --- bad configuration: exit 2, one line, names the problem --------------
set +e
env -u MYPOS_CLIENT_ID -u MYPOS_CLIENT_SECRET "${SERVER}" \
  --listen=127.0.0.1:0 2>"${TMP}/noenv.err" >/dev/null
code=$?
set -e
[[ ${code} == 2 ]] || fail "missing credentials exited ${code}, want 2"
[[ $(wc -l <"${TMP}/noenv.err") == 1 ]] || fail "want one line: $(cat "${TMP}/noenv.err")"
grep -q "MYPOS_CLIENT_ID" "${TMP}/noenv.err" || fail "line does not name MYPOS_CLIENT_ID"

set +e
MYPOS_CLIENT_ID=x MYPOS_CLIENT_SECRET="${CANARY_SECRET}" "${SERVER}" \
  --listen=127.0.0.1:0 --token_url="not a url" 2>"${TMP}/badurl.err" >/dev/null
code=$?
set -e
[[ ${code} == 2 ]] || fail "bad URL exited ${code}, want 2"
[[ $(wc -l <"${TMP}/badurl.err") == 1 ]] || fail "want one line: $(cat "${TMP}/badurl.err")"
grep -q -- "--token_url" "${TMP}/badurl.err" || fail "line does not name --token_url"
if grep -q "${CANARY_SECRET}" "${TMP}/badurl.err"; then fail "secret in error output"; fi

for flag in shutdown_grace drain_delay; do
  set +e
  MYPOS_CLIENT_ID=x MYPOS_CLIENT_SECRET="${CANARY_SECRET}" "${SERVER}" \
    --listen=127.0.0.1:0 --${flag}=-1s 2>"${TMP}/bad_${flag}.err" >/dev/null
  code=$?
  set -e
  [[ ${code} == 2 ]] || fail "negative --${flag} exited ${code}, want 2"
  [[ $(wc -l <"${TMP}/bad_${flag}.err") == 1 ]] || fail "want one line: $(cat "${TMP}/bad_${flag}.err")"
  grep -q -- "--${flag}" "${TMP}/bad_${flag}.err" || fail "line does not name --${flag}"
done

# --- --help lists token_server's own flags, and serves nothing ------------
set +e
"${SERVER}" --help >"${TMP}/help.out" 2>&1
set -e
for flag in --drain_delay --listen --max_upstream_connections --port_file; do
  grep -q -- "${flag} " "${TMP}/help.out" || fail "--help does not list ${flag}"
done

# --- --version: ours (not Abseil's "Debug build") on every binary, exit 0
version="$(sed -n 's/.*kVersion\[\] = "\(.*\)";/\1/p' "${RUNFILES}/base/version.h")"
[[ -n "${version}" ]] || fail "no kVersion in base/version.h"
for binary in "${SERVER}" "${FAKE}" "${CTL}"; do
  name="$(basename "${binary}")"
  out="$("${binary}" --version)" || fail "${name} --version exited non-zero"
  case "${out}" in
    "${name} ${version} (commit "?*")") ;;
    *) fail "${name} --version printed: ${out}" ;;
  esac
done

# --- the round trip ------------------------------------------------------
"${FAKE}" --port_file="${TMP}/fake.port" --client_id=e2e \
  --client_secret="${CANARY_SECRET}" >"${TMP}/fake.log" 2>&1 &
pids+=($!)
wait_for_file "${TMP}/fake.port"
FAKE_URL="http://127.0.0.1:$(cat "${TMP}/fake.port")"

printf '%s\n' "${CANARY_SECRET}" >"${TMP}/secret"
upstream_flags=(--client_secret_file="${TMP}/secret"
  --token_url="${FAKE_URL}/oauth/token" --revoke_url="${FAKE_URL}/oauth/revoke")
# A drain delay longer than the test: the second SIGTERM below ends it.
MYPOS_CLIENT_ID=e2e "${SERVER}" --listen=127.0.0.1:0 \
  --admin_listen=127.0.0.1:0 --port_file="${TMP}/server.port" \
  --drain_delay=10m "${upstream_flags[@]}" 2>"${TMP}/server.log" &
server_pid=$!
pids+=(${server_pid})
wait_for_file "${TMP}/server.port"
export TOKENSERVICE_TARGET="127.0.0.1:$(cat "${TMP}/server.port")"
admin_port=$(sed -n 's/.*"event":"server_started".*"admin_port":\([0-9]*\)[,}].*/\1/p' \
  "${TMP}/server.log")
[[ -n "${admin_port}" && "${admin_port}" != 0 ]] ||
  fail "server_started names no admin_port: $(cat "${TMP}/server.log")"

# --- a port already in use: exit 1, one line naming the address ---------
# (A second server must not share the port: no SO_REUSEPORT. `timeout`
# catches one that starts anyway.)
check_port_taken() {
  local name=$1 address=$2
  shift 2
  set +e
  MYPOS_CLIENT_ID=e2e timeout 20 "${SERVER}" "$@" "${upstream_flags[@]}" \
    2>"${TMP}/${name}.err" >/dev/null
  local code=$?
  set -e
  [[ ${code} == 1 ]] || fail "${name}: a second server exited ${code}, want 1"
  [[ $(wc -l <"${TMP}/${name}.err") == 1 ]] ||
    fail "${name}: want one line: $(cat "${TMP}/${name}.err")"
  grep -qF "${address}" "${TMP}/${name}.err" ||
    fail "${name}: line does not name ${address}: $(cat "${TMP}/${name}.err")"
}
check_port_taken grpc_taken "${TOKENSERVICE_TARGET}" \
  --listen="${TOKENSERVICE_TARGET}"
check_port_taken admin_taken "127.0.0.1:${admin_port}" \
  --listen=127.0.0.1:0 --admin_listen="127.0.0.1:${admin_port}"

"${CTL}" health | grep -qx "status: SERVING" || fail "health"
"${CTL}" --json issue --scopes=webhooks >"${TMP}/first.json"
"${CTL}" --json issue --scopes=webhooks >"${TMP}/second.json"
token=$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "${TMP}/first.json")
fp=$(sed -n 's/.*"fingerprint":"\([0-9a-f]*\)".*/\1/p' "${TMP}/first.json")
[[ -n "${token}" && -n "${fp}" ]] || fail "issue printed no token: $(cat "${TMP}/first.json")"
grep -q '"cached":true' "${TMP}/second.json" || fail "second issue not cached"
grep -q "\"access_token\":\"${token}\"" "${TMP}/second.json" || fail "second token differs"

"${CTL}" revoke --fingerprint="${fp}" | grep -qx "was_cached: true" || fail "revoke"
"${CTL}" info --fingerprint="${fp}" | grep -qx "state: TOKEN_STATE_REVOKED" || fail "info"

# Exit codes follow the gRPC code: NOT_FOUND is 5, INVALID_ARGUMENT 3.
set +e
"${CTL}" issue --credential=nobody 2>/dev/null; code=$?
[[ ${code} == 5 ]] || fail "unknown profile exited ${code}, want 5"
"${CTL}" issue --scopes='a"b' 2>/dev/null; code=$?
[[ ${code} == 3 ]] || fail "bad scope exited ${code}, want 3"
set -e

# --- SIGTERM: NOT_SERVING but still serving, a second signal stops it ----
wait_for_log() {
  for _ in $(seq 400); do grep -q "\"event\":\"$1\"" "${TMP}/server.log" && return 0; sleep 0.05; done
  fail "no $1 log: $(cat "${TMP}/server.log")"
}
kill -TERM "${server_pid}"
wait_for_log server_draining
set +e
"${CTL}" health >/dev/null 2>&1; code=$?
set -e
[[ ${code} == 14 ]] || fail "health while draining exited ${code}, want 14 (NOT_SERVING)"
# A new process, so a new connection: the port still accepts.
"${CTL}" --json issue --scopes=webhooks | grep -q '"access_token":"[^"]' ||
  fail "no token from a draining server"
grep -q '"event":"server_stopping"' "${TMP}/server.log" &&
  fail "the drain ended before the second signal"
kill -TERM "${server_pid}"
set +e
wait "${server_pid}"; code=$?
set -e
[[ ${code} == 0 ]] || fail "token_server exited ${code} after SIGTERM"
for event in drain_cut_short server_stopping server_stopped; do
  grep -q "\"event\":\"${event}\"" "${TMP}/server.log" || fail "no ${event} log"
done

# --- nothing secret in the logs -----------------------------------------
for f in "${TMP}/server.log" "${TMP}/noenv.err" "${TMP}/badurl.err" \
  "${TMP}/grpc_taken.err" "${TMP}/admin_taken.err"; do
  if grep -qF "${CANARY_SECRET}" "$f"; then fail "secret in $f"; fi
  if grep -qF "${token}" "$f"; then fail "token in $f"; fi
done
echo "PASS"
