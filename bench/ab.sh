#!/usr/bin/env bash
# A/B of two token_server binaries on the cache-hit path: both run at once
# behind one fake myPOS, on the same core, and the load generator
# alternates between them (the order flips each round), so that the
# machine's drift hits both alike. Use it when bench/run.sh's ratio to echo
# moves and you need to know whether the server did.
#
#   git worktree add /tmp/old <commit> && (cd /tmp/old &&
#     bazel build -c opt //server:token_server) && cp /tmp/old/bazel-bin/server/token_server /tmp/ts_old
#   bench/ab.sh /tmp/ts_old bazel-bin/server/token_server
#   ROUNDS=6 CONCURRENCY="1 16" DURATION=8s bench/ab.sh OLD NEW
#
# Prints one line per run: round, concurrency, which binary, qps, p99_us.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
[[ $# == 2 ]] || { echo "usage: $0 OLD_TOKEN_SERVER NEW_TOKEN_SERVER" >&2; exit 64; }
declare -A BINARY=([old]="$(realpath "$1")" [new]="$(realpath "$2")")

CONCURRENCY="${CONCURRENCY:-1 4 16 64}"
DURATION="${DURATION:-8s}"
ROUNDS="${ROUNDS:-3}"
bench_setup

bazel build -c opt //fake_mypos //bench:load_generator 2>/dev/null
BIN="$(bazel info -c opt bazel-bin 2>/dev/null)"
start_fake
for v in old new; do
  MYPOS_CLIENT_ID=demo-client MYPOS_CLIENT_SECRET=demo-secret \
    "${SERVER_CPUS[@]}" "${BINARY[$v]}" --listen=127.0.0.1:0 --port_file="${WORK}/${v}.port" \
    --admin_listen= --token_url="${FAKE}/oauth/token" --revoke_url="${FAKE}/oauth/revoke" \
    --log_level=error 2>/dev/null &
  pids+=($!)
done
wait_port "${WORK}/old.port"
wait_port "${WORK}/new.port"

for round in $(seq "${ROUNDS}"); do
  for c in ${CONCURRENCY}; do
    order="old new"
    ((round % 2)) && order="new old"
    for v in ${order}; do
      out="$("${CLIENT_CPUS[@]}" "${BIN}/bench/load_generator" --rpc=issue \
        --target="127.0.0.1:$(cat "${WORK}/${v}.port")" --concurrency="${c}" \
        --warmup=2s --duration="${DURATION}")"
      echo "round=${round} concurrency=${c} ${v} qps=$(echo "${out}" | field qps)" \
        "p99_us=$(echo "${out}" | field p99_us)"
    done
  done
done
