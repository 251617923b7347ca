#!/usr/bin/env bash
# Instructions per cache hit, counted by valgrind's callgrind: the whole
# server process (every thread: gRPC's, ours) while it answers Issue from
# its cache. Unlike qps, the count does not move with what else the machine
# runs, so it can tell a 1 % change on a busy or slow machine. Each binary
# runs twice, with SHORT and LONG calls made one at a time; the difference
# of the two totals over the difference of the calls is the cost per hit,
# start-up and shutdown cancelled out.
#
#   bench/instructions.sh bazel-bin/server/token_server [OTHER_TOKEN_SERVER]
#   SHORT=200 LONG=1200 bench/instructions.sh OLD NEW
#   FLEET=1 bench/instructions.sh SERVER   in fleet mode, with a local etcd
#   ECHO=1 bench/instructions.sh SERVER    and the floor: bench/echo_server,
#                                          bare and with --token_server_limits
#   SERVER_FLAGS="--max_connection_idle=1000h --max_connection_age=1000h" \
#     bench/instructions.sh SERVER         extra flags for each token_server
#
# Prints one line per server: instructions per call.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
(($# >= 1)) || { echo "usage: $0 TOKEN_SERVER [TOKEN_SERVER...]" >&2; exit 64; }
SHORT="${SHORT:-300}"
LONG="${LONG:-1500}"
bench_setup

bazel build -c opt //fake_mypos //bench:load_generator //bench:echo_server 2>/dev/null
BIN="$(bazel info -c opt bazel-bin 2>/dev/null)"
start_fake
fleet_flags=()
if [[ ${FLEET:-0} == 1 ]]; then
  start_etcd
  fleet_flags=(--etcd_endpoints="${ETCD}" --fleet_keys_dir="${FLEET_KEYS}")
fi

# count CALLS RPC SERVER_COMMAND...: the server's instruction count for
# CALLS calls of RPC (plus start-up, for Issue one miss, and shutdown).
count() {
  local calls=$1 rpc=$2
  shift 2
  rm -f "${WORK}/port" "${WORK}/out"
  valgrind --tool=callgrind --callgrind-out-file="${WORK}/out" "$@" \
    --port_file="${WORK}/port" 2>/dev/null &
  local pid=$!
  wait_port "${WORK}/port" 60  # valgrind starts slowly
  local load=(--rpc="${rpc}")
  [[ ${rpc} == echo ]] && load+=(--request_bytes=10 --response_bytes="${ECHO_BYTES}")
  "${BIN}/bench/load_generator" "${load[@]}" --target="127.0.0.1:$(cat "${WORK}/port")" \
    --concurrency=1 --channels=1 --warmup=0s --calls="${calls}" >"${WORK}/load.json"
  kill -TERM "${pid}"
  wait "${pid}" || true
  sed -n 's/^summary: \([0-9]*\).*/\1/p' "${WORK}/out"
}

# per_call NAME RPC SERVER_COMMAND...: prints NAME's instructions per call.
per_call() {
  local name=$1 rpc=$2
  shift 2
  local short long
  short="$(count "${SHORT}" "${rpc}" "$@")"
  long="$(count "${LONG}" "${rpc}" "$@")"
  echo "${name}: $(((long - short) / (LONG - SHORT))) instructions per ${rpc}" \
    "(${SHORT} and ${LONG} calls: ${short} and ${long})"
}

for server in "$@"; do
  MYPOS_CLIENT_ID=demo-client MYPOS_CLIENT_SECRET=demo-secret \
    per_call "${server}" issue "$(realpath "${server}")" --listen=127.0.0.1:0 --admin_listen= \
    --token_url="${FAKE}/oauth/token" --revoke_url="${FAKE}/oauth/revoke" \
    --drain_delay=0s --log_level=error "${fleet_flags[@]}" ${SERVER_FLAGS:-}
done
if [[ ${ECHO:-0} == 1 ]]; then
  # The floor: echo answering as many bytes as the last Issue reply had
  # (as bench/run.sh does).
  response_bytes="$(field response_bytes <"${WORK}/load.json")"
  ECHO_BYTES="$((response_bytes > 5 ? response_bytes - 3 : 1))"
  per_call "echo" echo "${BIN}/bench/echo_server" --listen=127.0.0.1:0
  per_call "echo --token_server_limits" echo "${BIN}/bench/echo_server" \
    --listen=127.0.0.1:0 --token_server_limits
fi
