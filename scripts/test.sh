#!/usr/bin/env bash
# Installs what is missing, then runs the whole test suite with Bazel and
# ends with the line "N passed, N failed" counted from Bazel's results.
# Usage: scripts/test.sh [extra bazel test flags]
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install_deps.sh || exit 1

# The Node client tests' packages, as tests/node/package-lock.json pins them
# (npm ci; skipped when node_modules already matches the lock file).
stamp="tests/node/node_modules/.installed-package-lock.json"
if ! cmp -s tests/node/package-lock.json "${stamp}"; then
  (cd tests/node && npm ci --ignore-scripts --no-audit --no-fund) || {
    echo "test.sh: npm ci in tests/node failed" >&2
    exit 1
  }
  cp tests/node/package-lock.json "${stamp}"
fi

log="$(mktemp)"
trap 'rm -f "${log}"' EXIT
status=0
bazel test //... "$@" 2>&1 | tee "${log}" || status=$?

# Bazel's summary has one line per test target: "//pkg:name  PASSED in 0.1s".
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "${log}")
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FAILED TO BUILD|FLAKY)' "${log}")
if ((status != 0 && failed == 0)); then failed=1; fi  # e.g. a build error
echo "${passed} passed, ${failed} failed"
exit "${status}"
