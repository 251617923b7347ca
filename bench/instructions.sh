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
#
# Prints one line per binary: instructions per hit.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
(($# >= 1)) || { echo "usage: $0 TOKEN_SERVER [TOKEN_SERVER...]" >&2; exit 64; }
SHORT="${SHORT:-300}"
LONG="${LONG:-1500}"
bench_setup

bazel build -c opt //fake_mypos //bench:load_generator 2>/dev/null
BIN="$(bazel info -c opt bazel-bin 2>/dev/null)"
start_fake
fleet_flags=()
if [[ ${FLEET:-0} == 1 ]]; then
  start_etcd
  fleet_flags=(--etcd_endpoints="${ETCD}" --fleet_keys_dir="${FLEET_KEYS}")
fi

# total SERVER CALLS: the server's instruction count for CALLS hits (plus
# start-up, one miss and shutdown).
total() {
  rm -f "${WORK}/port" "${WORK}/out"
  MYPOS_CLIENT_ID=demo-client MYPOS_CLIENT_SECRET=demo-secret \
    valgrind --tool=callgrind --callgrind-out-file="${WORK}/out" \
    "$1" --listen=127.0.0.1:0 --port_file="${WORK}/port" --admin_listen= \
    --token_url="${FAKE}/oauth/token" --revoke_url="${FAKE}/oauth/revoke" \
    --drain_delay=0s --log_level=error "${fleet_flags[@]}" 2>/dev/null &
  local pid=$!
  wait_port "${WORK}/port" 60  # valgrind starts slowly
  "${BIN}/bench/load_generator" --rpc=issue --target="127.0.0.1:$(cat "${WORK}/port")" \
    --concurrency=1 --channels=1 --warmup=0s --calls="$2" >/dev/null
  kill -TERM "${pid}"
  wait "${pid}" || true
  sed -n 's/^summary: \([0-9]*\).*/\1/p' "${WORK}/out"
}

for server in "$@"; do
  short="$(total "$(realpath "${server}")" "${SHORT}")"
  long="$(total "$(realpath "${server}")" "${LONG}")"
  echo "${server}: $(((long - short) / (LONG - SHORT))) instructions per hit" \
    "(${SHORT} and ${LONG} calls: ${short} and ${long})"
done
