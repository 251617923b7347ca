#!/usr/bin/env bash
# How the gRPC floor's tail responds to per-call work: echo servers that
# busy-wait WORK_NS nanoseconds in each call, measured like bench/run.sh
# (servers and load generator on separate cores, median of ROUNDS).
# BENCHMARKS.md uses it to tell what the Issue handler's own cost does to
# p99 at a saturating concurrency from what the handler does wrong.
#
#   bench/tail_sensitivity.sh                  concurrency 16, 0 250 500 1000 ns
#   CONCURRENCY=4 WORK_NS="0 100 200" bench/tail_sensitivity.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

CONCURRENCY="${CONCURRENCY:-16}"
WORK_NS="${WORK_NS:-0 250 500 1000}"
DURATION="${DURATION:-5s}"
WARMUP="${WARMUP:-2s}"
ROUNDS="${ROUNDS:-3}"
bench_setup

bazel build -c opt //bench:echo_server //bench:load_generator 2>/dev/null
BIN="$(bazel info -c opt bazel-bin 2>/dev/null)"
for n in ${WORK_NS}; do
  "${SERVER_CPUS[@]}" "${BIN}/bench/echo_server" --work_ns="${n}" \
    --port_file="${WORK}/${n}.port" &
  pids+=($!)
done
for n in ${WORK_NS}; do
  for _ in $(seq 200); do [[ -s "${WORK}/${n}.port" ]] && break; sleep 0.05; done
done

for round in $(seq "${ROUNDS}"); do
  for n in ${WORK_NS}; do
    out="$("${CLIENT_CPUS[@]}" "${BIN}/bench/load_generator" --rpc=echo \
      --target="127.0.0.1:$(cat "${WORK}/${n}.port")" --concurrency="${CONCURRENCY}" \
      --warmup="${WARMUP}" --duration="${DURATION}" --request_bytes=10 --response_bytes=114)"
    echo "${n} $(echo "${out}" | field qps) $(echo "${out}" | field p50_us) $(echo "${out}" | field p99_us)" \
      >>"${WORK}/rounds"
  done
done

echo "echo at concurrency ${CONCURRENCY}, median of ${ROUNDS} rounds of ${DURATION}"
printf "%-8s %9s %8s %8s\n" work_ns qps p50_us p99_us
for n in ${WORK_NS}; do
  printf "%-8s %9.0f %8.1f %8.1f\n" "${n}" \
    "$(awk -v n="${n}" '$1 == n { print $2 }' "${WORK}/rounds" | median)" \
    "$(awk -v n="${n}" '$1 == n { print $3 }' "${WORK}/rounds" | median)" \
    "$(awk -v n="${n}" '$1 == n { print $4 }' "${WORK}/rounds" | median)"
done
