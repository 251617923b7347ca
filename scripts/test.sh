#!/usr/bin/env bash
# Installs what is missing, then runs the whole test suite:
#   1. bazel test //...                every test (gcc)
#   2. bazel test --config=asan //...  every test again under AddressSanitizer
#                                      + UndefinedBehaviorSanitizer (+ leaks)
#   3. bazel test --config=tsan //...  every test again under ThreadSanitizer
#   4. scripts/fuzz.sh                 each libFuzzer harness for
#                                      FUZZ_SECONDS (default 60)
# and ends with the line "N passed, N failed": one per test target and
# configuration, plus one per fuzz harness. Each stage's wall-clock time is
# printed as it ends.
# Usage: scripts/test.sh [extra bazel test flags]
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_deps.sh || exit 1

log="$(mktemp)"
trap 'rm -f "${log}"' EXIT
status=0
timings=()
stage() {
  local name=$1
  shift
  echo "+ $*"
  local start=${SECONDS}
  "$@" 2>&1 | tee -a "${log}"
  local rc=${PIPESTATUS[0]}
  if ((rc != 0)); then status=${rc}; fi
  timings+=("${name}: $((SECONDS - start))s")
  echo "stage ${timings[-1]}"
}
stage "bazel test" bazel test //... "$@"
stage "bazel test --config=asan" bazel test --config=asan //... "$@"
stage "bazel test --config=tsan" bazel test --config=tsan //... "$@"
stage "fuzz" bash scripts/fuzz.sh

for timing in "${timings[@]}"; do echo "stage time ${timing}"; done
# Bazel's summary has one line per test target: "//pkg:name  PASSED in 0.1s";
# scripts/fuzz.sh prints one such line per harness.
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "${log}")
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FAILED TO BUILD|FLAKY)' "${log}")
if ((status != 0 && failed == 0)); then failed=1; fi  # e.g. a build error
echo "${passed} passed, ${failed} failed"
exit "${status}"
