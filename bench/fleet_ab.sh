#!/usr/bin/env bash
# The cache-hit path of a plain server and of a fleet-mode server side by
# side: both run at once on CPU 0 beside the same local etcd, and each round
# loads one, then the other, so that what the machine does meanwhile falls
# on both. Prints hits a second, the fleet/plain ratio, and each server's
# context switches and CPU time per 1,000 hits (perf stat). A thread that
# waits inside gRPC's poller shows up here and not in instruction counts:
# see base/blocking_stream.h.
#
#   bench/fleet_ab.sh                      5 rounds of 5 s at concurrency 16
#   ROUNDS=3 DURATION=10s CONCURRENCY=4 bench/fleet_ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-5s}"
CONCURRENCY="${CONCURRENCY:-16}"
bench_setup
bash scripts/install_deps.sh >/dev/null
if ! command -v perf >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends linux-perf >/dev/null
fi
bazel build -c opt //server:token_server //fake_mypos //bench:load_generator
BIN="$(bazel info -c opt bazel-bin 2>/dev/null)"
start_fake
start_etcd
# serve NAME [FLAGS...]: a TokenServer on CPU 0; sets PID_NAME, ADDR_NAME.
serve() {
  local name=$1
  shift
  MYPOS_CLIENT_ID=demo-client MYPOS_CLIENT_SECRET=demo-secret \
    "${SERVER_CPUS[@]}" "${BIN}/server/token_server" --listen=127.0.0.1:0 \
    --port_file="${WORK}/${name}.port" --token_url="${FAKE}/oauth/token" \
    --revoke_url="${FAKE}/oauth/revoke" --log_level=error "$@" 2>/dev/null &
  pids+=($!)
  printf -v "PID_${name}" %s $!
  wait_port "${WORK}/${name}.port"
  printf -v "ADDR_${name}" %s "127.0.0.1:$(cat "${WORK}/${name}.port")"
}
serve plain
serve fleet --etcd_endpoints="${ETCD}" --fleet_keys_dir="${FLEET_KEYS}"
seconds="${DURATION%s}"
if ! [[ ${seconds} =~ ^[0-9]+$ ]]; then
  echo "$0: DURATION must be whole seconds, as 5s" >&2
  exit 1
fi
# load NAME: hits a second, context switches and CPU ms per 1,000 hits.
# perf counts from just before the warm-up second to just after the load,
# and the hits of that whole span are taken at the measured rate.
load() {
  local pid_var="PID_$1" addr_var="ADDR_$1" qps
  perf stat -x, -e context-switches,task-clock -p "${!pid_var}" \
    -o "${WORK}/perf" -- sleep "$((seconds + 1))" &
  local perf_pid=$!
  qps="$("${CLIENT_CPUS[@]}" "${BIN}/bench/load_generator" --target="${!addr_var}" \
    --rpc=issue --concurrency="${CONCURRENCY}" --warmup=1s --duration="${DURATION}" | field qps)"
  if ! wait "${perf_pid}" || [[ ! -s ${WORK}/perf || -z ${qps} ]]; then
    echo "$0: perf stat or the load generator failed" >&2
    exit 1
  fi
  awk -F, -v q="${qps}" -v s="${seconds}" '
    $3 == "context-switches" { cs = $1 } $3 == "task-clock" { ms = $1 }
    END { printf "%.0f %.0f %.1f", q, cs / (q * (s + 1)) * 1000, ms / (q * (s + 1)) * 1000 }' \
    "${WORK}/perf"
}
printf "%-6s %10s %10s %6s %12s %12s %10s %10s\n" round plain_qps fleet_qps ratio \
  plain_cs/1k fleet_cs/1k plain_ms/1k fleet_ms/1k
for round in $(seq "${ROUNDS}"); do
  # Plain first in odd rounds, fleet first in even ones.
  if ((round % 2)); then
    p="$(load plain)"
    f="$(load fleet)"
  else
    f="$(load fleet)"
    p="$(load plain)"
  fi
  read -r p_qps p_cs p_ms <<<"${p}"
  read -r f_qps f_cs f_ms <<<"${f}"
  awk -v r="${round}" -v pq="${p_qps}" -v fq="${f_qps}" -v pc="${p_cs}" -v fc="${f_cs}" \
    -v pm="${p_ms}" -v fm="${f_ms}" \
    'BEGIN { printf "%-6s %10d %10d %6.2f %12d %12d %10.1f %10.1f\n", r, pq, fq, fq / pq, pc, fc, pm, fm }'
done
echo "concurrency ${CONCURRENCY}, ${DURATION} per load, both servers beside one etcd," \
  "$([[ ${PIN} == 1 ]] && echo "on CPU 0, the load generator on the others" || echo "unpinned")"
