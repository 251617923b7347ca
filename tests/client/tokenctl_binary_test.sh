#!/usr/bin/env bash
# The tokenctl binary's connection settings, end to end: the caller key from
# --caller_key_file, $TOKENSERVICE_CALLER_KEY_FILE or $TOKENSERVICE_CALLER_KEY
# reaches the server as x-caller-key; TLS and mTLS from flags or
# TOKENSERVICE_* variables; exit codes that are the gRPC code. The server is
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
