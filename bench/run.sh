#!/usr/bin/env bash
# Measures TokenService's cache-hit Issue against the gRPC floor (an echo
# server with the same framework and message sizes), alternating the two at
# each concurrency, on loopback. Prints a table with their ratios, writes
# issue_vs_echo.csv (medians), issue_vs_echo_rounds.csv (every round) and
# issue_vs_echo.png into OUT (default bench/results, not committed;
# docs/benchmarks holds the run BENCHMARKS.md quotes).
#
#   bench/run.sh                      default: concurrency 1 4 16 64, 3 rounds
#   CONCURRENCY="8 32" DURATION=5s ROUNDS=5 bench/run.sh
#   OUT=docs/benchmarks bench/run.sh  refresh the committed figures
#   FLEET=1 bench/run.sh              the server in fleet mode (a local etcd)
#   ECHO_LIMITS=1 bench/run.sh        echo with token_server's port limits
#                                     (server/rpc/grpc_limits.h) as the floor
#
# Each round runs Issue and echo back to back at every concurrency, in an
# order that flips each round; the table shows the median of the rounds and,
# as ratios, the median of each round's Issue/echo ratio. Servers and load
# generator run on separate cores (PIN=0 to let them float): see
# bench/common.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh

CONCURRENCY="${CONCURRENCY:-1 4 16 64}"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
ROUNDS="${ROUNDS:-3}"
OUT="${OUT:-bench/results}"
bench_setup

bash scripts/install_deps.sh >/dev/null
if ! command -v gnuplot >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gnuplot-nox >/dev/null
fi
bazel build -c opt //server:token_server //fake_mypos //bench:echo_server \
  //bench:load_generator 2>/dev/null
BIN="$(bazel info -c opt bazel-bin 2>/dev/null)"

start_fake
fleet_flags=()
if [[ ${FLEET:-0} == 1 ]]; then
  start_etcd
  fleet_flags=(--etcd_endpoints="${ETCD}" --fleet_keys_dir="${FLEET_KEYS}")
fi
MYPOS_CLIENT_ID=demo-client MYPOS_CLIENT_SECRET=demo-secret \
  "${SERVER_CPUS[@]}" "${BIN}/server/token_server" --listen=127.0.0.1:0 --port_file="${WORK}/ts.port" \
  --token_url="${FAKE}/oauth/token" --revoke_url="${FAKE}/oauth/revoke" \
  "${fleet_flags[@]}" --log_level=error 2>/dev/null &
pids+=($!)
echo_flags=()
[[ ${ECHO_LIMITS:-0} == 1 ]] && echo_flags=(--token_server_limits)
"${SERVER_CPUS[@]}" "${BIN}/bench/echo_server" --port_file="${WORK}/echo.port" "${echo_flags[@]}" &
pids+=($!)
wait_port "${WORK}/ts.port"
wait_port "${WORK}/echo.port"
TS="127.0.0.1:$(cat "${WORK}/ts.port")"
ECHO="127.0.0.1:$(cat "${WORK}/echo.port")"

gen() { "${CLIENT_CPUS[@]}" "${BIN}/bench/load_generator" --warmup="${WARMUP}" --duration="${DURATION}" "$@"; }

# The echo server answers with as many bytes as an Issue reply has, and is
# asked with as many as an Issue request carries.
probe="$(gen --target="${TS}" --rpc=issue --concurrency=1 --warmup=0s --duration=1s)"
RESPONSE_BYTES="$(echo "${probe}" | field response_bytes)"

run_issue() { gen --target="${TS}" --rpc=issue --concurrency="$1"; }
run_echo() {
  gen --target="${ECHO}" --rpc=echo --concurrency="$1" \
    --request_bytes=10 --response_bytes="$((RESPONSE_BYTES > 5 ? RESPONSE_BYTES - 3 : 1))"
}

mkdir -p "${OUT}"
RAW="${OUT}/issue_vs_echo_rounds.csv"
COLUMNS="concurrency,issue_qps,echo_qps,issue_p50_us,echo_p50_us,issue_p99_us,echo_p99_us,issue_p999_us,echo_p999_us"
echo "round,${COLUMNS}" >"${RAW}"
for round in $(seq "${ROUNDS}"); do
  for c in ${CONCURRENCY}; do
    # The order flips each round, so that a drift of the machine within a
    # round falls on both alike.
    if ((round % 2)); then
      issue="$(run_issue "${c}")"
      echo_="$(run_echo "${c}")"
    else
      echo_="$(run_echo "${c}")"
      issue="$(run_issue "${c}")"
    fi
    row="${round},${c}"
    for f in qps p50_us p99_us p999_us; do
      row+=",$(echo "${issue}" | field "${f}"),$(echo "${echo_}" | field "${f}")"
    done
    echo "${row}" >>"${RAW}"
    echo "round ${round}/${ROUNDS} concurrency ${c} done" >&2
  done
done

# Per concurrency, the median of each column over the rounds, and the
# median of each round's own Issue/echo ratios (the two ran back to back, so
# a round's ratio is the paired comparison; the ratio of two medians mixes
# rounds).
echo "${COLUMNS},qps_ratio,p99_ratio" >"${OUT}/issue_vs_echo.csv"
for c in ${CONCURRENCY}; do
  line="${c}"
  for col in $(seq 3 10); do
    line+=",$(awk -F, -v c="${c}" -v col="${col}" 'NR > 1 && $2 == c { print $col }' "${RAW}" |
      median)"
  done
  for cols in "3 4" "7 8"; do
    line+=",$(awk -F, -v c="${c}" -v cols="${cols}" \
      'BEGIN { split(cols, k, " ") } NR > 1 && $2 == c { print $k[1] / $k[2] }' "${RAW}" | median)"
  done
  echo "${line}" >>"${OUT}/issue_vs_echo.csv"
done

echo "median of ${ROUNDS} rounds of ${DURATION} each, $( [[ ${PIN} == 1 ]] && echo "servers on CPU 0, load generator on CPUs 1-$((CORES - 1))" || echo "unpinned")"
printf "%-11s %11s %11s %6s %9s %9s %6s\n" concurrency issue_qps echo_qps ratio issue_p99 echo_p99 ratio
awk -F, 'NR > 1 { printf "%-11s %11.0f %11.0f %6.2f %9.0f %9.0f %6.2f\n", $1, $2, $3, $10, $6, $7, $11 }' \
  "${OUT}/issue_vs_echo.csv"

gnuplot <<PLOT
set terminal pngcairo size 900,420 noenhanced
set output "${OUT}/issue_vs_echo.png"
set datafile separator ","
set multiplot layout 1,2 title "TokenService Issue (cache hit) vs gRPC echo: loopback, ${CORES} cores, median of ${ROUNDS} rounds"
set logscale x 2
set xlabel "concurrency"
set key top left
set ylabel "calls per second"
plot "${OUT}/issue_vs_echo.csv" using 1:2 skip 1 with linespoints title "Issue", \
     "" using 1:3 skip 1 with linespoints title "echo"
set ylabel "p99 latency (us)"
plot "${OUT}/issue_vs_echo.csv" using 1:6 skip 1 with linespoints title "Issue", \
     "" using 1:7 skip 1 with linespoints title "echo"
unset multiplot
PLOT
echo "wrote ${OUT}/issue_vs_echo.csv and ${OUT}/issue_vs_echo.png"
