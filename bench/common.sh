# Shared by the bench scripts (sourced, not run): CPU pinning, the
# temporary directory and processes of a run, waiting for ports, the fake
# myPOS.
#
# With 2 or more cores the servers go on CPU 0 and the load generator on the
# others (PIN=0 to let them float): on a small machine the two otherwise
# fight for the same cores and the scheduler, not the server, decides the
# p99. Sets CORES, PIN, SERVER_CPUS and CLIENT_CPUS (command prefixes).
CORES="$(nproc)"
PIN="${PIN:-$((CORES >= 2 ? 1 : 0))}"
if [[ ${PIN} == 1 ]]; then
  SERVER_CPUS=(taskset -c 0)
  CLIENT_CPUS=(taskset -c "1-$((CORES - 1))")
else
  SERVER_CPUS=()
  CLIENT_CPUS=()
fi

# field NAME: the number NAME in the load generator's JSON line on stdin.
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }

# median: of the numbers on stdin, one per line.
median() {
  sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# bench_setup: WORK, a temporary directory, and pids, the processes to kill;
# on exit every one of them is killed and WORK removed.
bench_setup() {
  WORK="$(mktemp -d)"
  pids=()
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "${WORK}"' EXIT
}

# wait_port FILE [SECONDS]: until a server has written its port to FILE
# (default 10 s); exits the script when it does not.
wait_port() {
  for _ in $(seq $((${2:-10} * 20))); do [[ -s "$1" ]] && return; sleep 0.05; done
  echo "$0: no port in $1" >&2
  exit 1
}

# start_fake: the fake myPOS from ${BIN} on a port it picks; sets FAKE to
# its base URL.
start_fake() {
  "${BIN}/fake_mypos/fake_mypos" --port_file="${WORK}/fake.port" >/dev/null 2>&1 &
  pids+=($!)
  wait_port "${WORK}/fake.port"
  FAKE="http://127.0.0.1:$(cat "${WORK}/fake.port")"
}

# free_port: a loopback TCP port nothing listens on (etcd cannot pick its
# own).
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
      echo "${port}"
      return
    fi
  done
}

# start_etcd: Debian's etcd on two free loopback ports with its data in
# WORK, and a fleet keys directory; sets ETCD (HOST:PORT) and FLEET_KEYS.
# Returns once etcd answers.
start_etcd() {
  local client peer
  client="$(free_port)"
  peer="$(free_port)"
  ETCD="127.0.0.1:${client}"
  etcd --name=bench --data-dir="${WORK}/etcd" \
    --listen-client-urls="http://${ETCD}" --advertise-client-urls="http://${ETCD}" \
    --listen-peer-urls="http://127.0.0.1:${peer}" \
    --initial-advertise-peer-urls="http://127.0.0.1:${peer}" \
    --initial-cluster="bench=http://127.0.0.1:${peer}" \
    --log-level=error --logger=zap >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do
    ETCDCTL_API=3 etcdctl --endpoints="${ETCD}" endpoint health >/dev/null 2>&1 && break
    sleep 0.05
  done
  FLEET_KEYS="${WORK}/fleet-keys"
  mkdir -p "${FLEET_KEYS}"
  head -c 32 /dev/urandom | base64 >"${FLEET_KEYS}/k1"
  echo k1 >"${FLEET_KEYS}/active"
}
