#!/usr/bin/env bash
# Measures TokenService's cache-hit Issue against the gRPC floor (an echo
# server with the same framework and message sizes), alternating the two at
# each concurrency, on loopback. Prints a table with their ratios, writes
# bench/results/issue_vs_echo.csv and bench/results/issue_vs_echo.png.
#
#   bench/run.sh                      default: concurrency 1 4 16 64, 10s each
#   CONCURRENCY="8 32" DURATION=5s bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CONCURRENCY="${CONCURRENCY:-1 4 16 64}"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
OUT=bench/results
WORK="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "${WORK}"; }
trap cleanup EXIT

bash scripts/install_deps.sh >/dev/null
if ! command -v gnuplot >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gnuplot-nox >/dev/null
fi
bazel build -c opt //server:token_server //fake_mypos //bench:echo_server \
  //bench:load_generator 2>/dev/null
BIN="$(bazel info -c opt bazel-bin 2>/dev/null)"

wait_port() { for _ in $(seq 200); do [[ -s "$1" ]] && return; sleep 0.05; done; exit 1; }

"${BIN}/fake_mypos/fake_mypos" --port_file="${WORK}/fake.port" >/dev/null 2>&1 &
pids+=($!)
wait_port "${WORK}/fake.port"
FAKE="http://127.0.0.1:$(cat "${WORK}/fake.port")"
MYPOS_CLIENT_ID=demo-client MYPOS_CLIENT_SECRET=demo-secret \
  "${BIN}/server/token_server" --listen=127.0.0.1:0 --port_file="${WORK}/ts.port" \
  --token_url="${FAKE}/oauth/token" --revoke_url="${FAKE}/oauth/revoke" \
  --log_level=error 2>/dev/null &
pids+=($!)
"${BIN}/bench/echo_server" --port_file="${WORK}/echo.port" &
pids+=($!)
wait_port "${WORK}/ts.port"
wait_port "${WORK}/echo.port"
TS="127.0.0.1:$(cat "${WORK}/ts.port")"
ECHO="127.0.0.1:$(cat "${WORK}/echo.port")"

gen() { "${BIN}/bench/load_generator" --warmup="${WARMUP}" --duration="${DURATION}" "$@"; }
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }

# The echo server answers with as many bytes as an Issue reply has, and is
# asked with as many as an Issue request carries.
probe="$(gen --target="${TS}" --rpc=issue --concurrency=1 --warmup=0s --duration=1s)"
RESPONSE_BYTES="$(echo "${probe}" | field response_bytes)"

mkdir -p "${OUT}"
echo "concurrency,issue_qps,echo_qps,issue_p50_us,echo_p50_us,issue_p99_us,echo_p99_us,issue_p999_us,echo_p999_us" >"${OUT}/issue_vs_echo.csv"
printf "%-11s %11s %11s %6s %9s %9s %6s\n" concurrency issue_qps echo_qps ratio issue_p99 echo_p99 ratio
for c in ${CONCURRENCY}; do
  issue="$(gen --target="${TS}" --rpc=issue --concurrency="${c}")"
  echo_="$(gen --target="${ECHO}" --rpc=echo --concurrency="${c}" \
    --request_bytes=10 --response_bytes="$((RESPONSE_BYTES > 5 ? RESPONSE_BYTES - 3 : 1))")"
  iq=$(echo "${issue}" | field qps); eq=$(echo "${echo_}" | field qps)
  i50=$(echo "${issue}" | field p50_us); e50=$(echo "${echo_}" | field p50_us)
  i99=$(echo "${issue}" | field p99_us); e99=$(echo "${echo_}" | field p99_us)
  i999=$(echo "${issue}" | field p999_us); e999=$(echo "${echo_}" | field p999_us)
  echo "${c},${iq},${eq},${i50},${e50},${i99},${e99},${i999},${e999}" >>"${OUT}/issue_vs_echo.csv"
  awk -v c="${c}" -v iq="${iq}" -v eq="${eq}" -v i99="${i99}" -v e99="${e99}" \
    'BEGIN { printf "%-11s %11s %11s %6.2f %9s %9s %6.2f\n", c, iq, eq, iq / eq, i99, e99, i99 / e99 }' 
done

gnuplot <<PLOT
set terminal pngcairo size 900,420 noenhanced
set output "${OUT}/issue_vs_echo.png"
set datafile separator ","
set multiplot layout 1,2 title "TokenService Issue (cache hit) vs gRPC echo, loopback, $(nproc) cores"
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
