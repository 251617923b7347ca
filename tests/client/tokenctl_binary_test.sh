#!/usr/bin/env bash
# The tokenctl binary's connection settings, end to end: the caller key from
# --caller_key_file, $TOKENSERVICE_CALLER_KEY_FILE or $TOKENSERVICE_CALLER_KEY
# reaches the server as x-caller-key; TLS and mTLS from flags or
# TOKENSERVICE_* variables; exit codes that are the gRPC code (14 for a
# health check answered NOT_SERVING), 64 for usage errors; with --json every
# error, before a call or from it, as one JSON object. The server is
# recording_server (a scripted TokenService) on loopback.
set -euo pipefail

RUNFILES="${TEST_SRCDIR}/${TEST_WORKSPACE}"
CTL="${RUNFILES}/client/tokenctl"
SERVER="${RUNFILES}/tests/client/recording_server"
CERTS="${RUNFILES}/tests/client/testdata"
TMP="${TEST_TMPDIR}"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# start NAME [server flags...]: runs a server; its port is in $NAME.port.
start() {
  local name="$1"; shift
  "${SERVER}" --port_file="${TMP}/${name}.port" \
    --record_file="${TMP}/${name}.record" "$@" 2>"${TMP}/${name}.log" &
  pids+=($!)
  for _ in $(seq 200); do [[ -s "${TMP}/${name}.port" ]] && return 0; sleep 0.05; done
  fail "${name} never started"
}
last_record() { tail -n 1 "${TMP}/$1.record"; }
# expect CODE COMMAND...: runs COMMAND, checks its exit code.
expect() {
  local want="$1"; shift
  set +e; "$@" >"${TMP}/out" 2>"${TMP}/err"; local code=$?; set -e
  [[ ${code} == "${want}" ]] ||
    fail "$* exited ${code}, want ${want}: $(cat "${TMP}/err")"
}

unset TOKENSERVICE_TARGET TOKENSERVICE_TLS TOKENSERVICE_CA_FILE \
  TOKENSERVICE_CERT_FILE TOKENSERVICE_KEY_FILE TOKENSERVICE_CALLER_KEY \
  TOKENSERVICE_CALLER_KEY_FILE

# --- caller key ------------------------------------------------------------
start plain
export TOKENSERVICE_TARGET="127.0.0.1:$(cat "${TMP}/plain.port")"
expect 0 "${CTL}" issue
[[ $(last_record plain) == "caller_key=- peer_cn=-" ]] || fail "key sent unasked"

TOKENSERVICE_CALLER_KEY=env-key expect 0 "${CTL}" issue
[[ $(last_record plain) == "caller_key=env-key peer_cn=-" ]] || fail "env key: $(last_record plain)"

printf 'env-file-key\n' >"${TMP}/env.key"
TOKENSERVICE_CALLER_KEY_FILE="${TMP}/env.key" TOKENSERVICE_CALLER_KEY=env-key \
  expect 0 "${CTL}" list
[[ $(last_record plain) == "caller_key=env-file-key peer_cn=-" ]] || fail "env file key: $(last_record plain)"

printf 'flag-file-key\n' >"${TMP}/flag.key"
TOKENSERVICE_CALLER_KEY=env-key expect 0 "${CTL}" --caller_key_file="${TMP}/flag.key" health
expect 0 "${CTL}" --caller_key_file="${TMP}/flag.key" info --fingerprint=00112233aabbccdd
[[ $(last_record plain) == "caller_key=flag-file-key peer_cn=-" ]] || fail "flag key: $(last_record plain)"

calls=$(wc -l <"${TMP}/plain.record")
expect 9 "${CTL}" --caller_key_file="${TMP}/missing.key" issue
grep -q -- "--caller_key_file" "${TMP}/err" || fail "error does not name the flag"
printf 'canary-bad\tkey\n' >"${TMP}/bad.key"
expect 3 "${CTL}" --caller_key_file="${TMP}/bad.key" issue
if grep -q canary-bad "${TMP}/err"; then fail "key in error message"; fi
[[ $(wc -l <"${TMP}/plain.record") == "${calls}" ]] || fail "a call went out with a bad key"

# --- exit code = gRPC code -------------------------------------------------
for code in 5 7 14 16; do
  start "fail${code}" --fail_code="${code}"
  expect "${code}" "${CTL}" --target="127.0.0.1:$(cat "${TMP}/fail${code}.port")" issue
done
start fail3 --fail_code=3
expect 3 "${CTL}" --json --target="127.0.0.1:$(cat "${TMP}/fail3.port")" issue
grep -qx '{"code":3,"status":"INVALID_ARGUMENT","message":"scripted failure"}' "${TMP}/err" ||
  fail "JSON error: $(cat "${TMP}/err")"

# --- errors before any call: the same code, and JSON with --json ------------
expect 9 "${CTL}" --json --caller_key_file="${TMP}/missing.key" issue
grep -qE '^\{"code":9,"status":"FAILED_PRECONDITION","message":".*--caller_key_file.*"\}$' "${TMP}/err" ||
  fail "JSON file error: $(cat "${TMP}/err")"
TOKENSERVICE_TLS=maybe expect 3 "${CTL}" --json issue
grep -qE '^\{"code":3,"status":"INVALID_ARGUMENT","message":".*TOKENSERVICE_TLS.*"\}$' "${TMP}/err" ||
  fail "JSON connection error: $(cat "${TMP}/err")"
expect 9 "${CTL}" --json revoke --token_file="${TMP}/missing.token"
grep -qE '^\{"code":9,"status":"FAILED_PRECONDITION",' "${TMP}/err" ||
  fail "JSON token file error: $(cat "${TMP}/err")"
expect 9 "${CTL}" revoke --token_file="${TMP}/missing.token"
grep -q '^tokenctl: FAILED_PRECONDITION: cannot open --token_file' "${TMP}/err" ||
  fail "text token file error: $(cat "${TMP}/err")"

# --- usage errors: 64 --------------------------------------------------------
calls=$(wc -l <"${TMP}/plain.record")
expect 64 "${CTL}" --max_attempts=0 issue
grep -q -- "--max_attempts" "${TMP}/err" || fail "error does not name --max_attempts"
expect 64 "${CTL}" --json --max_attempts=-1 issue
grep -qx '{"code":64,"status":"USAGE","message":"--max_attempts must be at least 1"}' "${TMP}/err" ||
  fail "JSON usage error: $(cat "${TMP}/err")"
expect 64 "${CTL}" --timeout=0s issue
expect 64 "${CTL}" frobnicate
expect 64 "${CTL}" --json
grep -qE '^\{"code":64,"status":"USAGE",' "${TMP}/err" || fail "JSON usage: $(cat "${TMP}/err")"
[[ $(wc -l <"${TMP}/plain.record") == "${calls}" ]] || fail "a call went out on a usage error"
expect 64 "${CTL}" health --scopes=x
grep -q -- "--scopes does not apply to health" "${TMP}/err" || fail "flag of another command: $(cat "${TMP}/err")"
expect 64 "${CTL}" issue --frobnicate
grep -q -- "unknown flag --frobnicate" "${TMP}/err" || fail "unknown flag: $(cat "${TMP}/err")"
expect 64 "${CTL}" revoke --token=canary-x --fingerprint=00112233aabbccdd
grep -q "exactly one of" "${TMP}/err" || fail "revoke both: $(cat "${TMP}/err")"
if grep -q canary-x "${TMP}/err"; then fail "token in a usage error"; fi
expect 64 "${CTL}" --timeout=10 issue
[[ $(wc -l <"${TMP}/plain.record") == "${calls}" ]] || fail "a call went out on a usage error"
expect 0 "${CTL}" --help
grep -q "NOT_SERVING" "${TMP}/out" || fail "--help does not document the health exit code"
grep -q -- "--scopes" "${TMP}/out" && fail "global --help lists issue's flags"
expect 0 "${CTL}" issue --help
grep -q -- "--scopes=A,B" "${TMP}/out" || fail "issue --help: $(cat "${TMP}/out")"
grep -q -- "--service" "${TMP}/out" && fail "issue --help lists health's flags"

# --- list --all, --emit_defaults ---------------------------------------------
expect 0 "${CTL}" --json list --page_size=1 --all
grep -q '"fingerprint":"ffeeddccbbaa9988"' "${TMP}/out" || fail "list --all: $(cat "${TMP}/out")"
expect 0 "${CTL}" --json --emit_defaults info --fingerprint=00112233aabbccdd
grep -q '"hit_count":"0"' "${TMP}/out" || fail "--emit_defaults: $(cat "${TMP}/out")"

# --- health: exit 14 unless SERVING ------------------------------------------
expect 0 "${CTL}" health
start down --not_serving
expect 14 "${CTL}" --target="127.0.0.1:$(cat "${TMP}/down.port")" health
grep -qx 'status: NOT_SERVING' "${TMP}/out" || fail "health reply: $(cat "${TMP}/out")"
expect 14 "${CTL}" --json --target="127.0.0.1:$(cat "${TMP}/down.port")" health
grep -qx '{"status":"NOT_SERVING"}' "${TMP}/out" || fail "health JSON reply: $(cat "${TMP}/out")"
grep -qx '{"code":14,"status":"UNAVAILABLE","message":"the server is NOT_SERVING"}' "${TMP}/err" ||
  fail "health JSON error: $(cat "${TMP}/err")"

# --- TLS and mTLS ----------------------------------------------------------
start tls --tls_dir="${CERTS}"
tls_target="127.0.0.1:$(cat "${TMP}/tls.port")"
expect 0 "${CTL}" --target="${tls_target}" --ca_file="${CERTS}/ca.pem" issue
TOKENSERVICE_TLS=1 TOKENSERVICE_CA_FILE="${CERTS}/ca.pem" expect 0 "${CTL}" --target="${tls_target}" list
expect 14 "${CTL}" --max_attempts=1 --target="${tls_target}" issue        # plaintext
expect 14 "${CTL}" --max_attempts=1 --target="${tls_target}" --ca_file="${CERTS}/other_ca.pem" issue

start mtls --tls_dir="${CERTS}" --require_client_cert
export TOKENSERVICE_TARGET="127.0.0.1:$(cat "${TMP}/mtls.port")"
expect 14 "${CTL}" --max_attempts=1 --ca_file="${CERTS}/ca.pem" issue  # no client cert
TOKENSERVICE_CA_FILE="${CERTS}/ca.pem" TOKENSERVICE_CERT_FILE="${CERTS}/client.pem" \
  TOKENSERVICE_KEY_FILE="${CERTS}/client.key" TOKENSERVICE_CALLER_KEY=mtls-key \
  expect 0 "${CTL}" issue
[[ $(last_record mtls) == "caller_key=mtls-key peer_cn=test-client" ]] || fail "mTLS: $(last_record mtls)"
expect 3 "${CTL}" --ca_file="${CERTS}/ca.pem" --cert_file="${CERTS}/client.pem" issue  # no key
echo "PASS"
