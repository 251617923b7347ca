# Shared by bench/run.sh and bench/tail_sensitivity.sh (sourced, not run).
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
