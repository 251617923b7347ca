#!/usr/bin/env bash
# Installs what is missing, then runs the whole test suite with Bazel:
#   1. bazel test //...                              every test
#   2. bazel test --config=tsan //tests/server/...   the broker, cache and
#      thread pool again under ThreadSanitizer
# and ends with the line "N passed, N failed" counted from Bazel's results
# (one per test target and configuration).
# Usage: scripts/test.sh [extra bazel test flags]
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_deps.sh || exit 1

log="$(mktemp)"
trap 'rm -f "${log}"' EXIT
status=0
run() {
  echo "+ bazel test $*"
  bazel test "$@" 2>&1 | tee -a "${log}"
  local rc=${PIPESTATUS[0]}
  if ((rc != 0)); then status=${rc}; fi
}
run //... "$@"
run --config=tsan //tests/server/... "$@"

# Bazel's summary has one line per test target: "//pkg:name  PASSED in 0.1s".
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "${log}")
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FAILED TO BUILD|FLAKY)' "${log}")
if ((status != 0 && failed == 0)); then failed=1; fi  # e.g. a build error
echo "${passed} passed, ${failed} failed"
exit "${status}"
