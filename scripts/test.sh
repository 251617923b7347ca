#!/usr/bin/env bash
# Installs what is missing, then runs the whole test suite:
#   1. bazel test //...                              every test
#   2. bazel test --config=tsan //tests/server/...   the broker, cache and
#      thread pool again under ThreadSanitizer
#   3. scripts/image_smoke_test.sh                   builds the container
#      image and runs it against the fake myPOS
# and ends with the line "N passed, N failed" counting Bazel's test targets
# (per configuration) plus the image smoke test. TOKENSERVICE_SKIP_IMAGE=1
# skips the image (it is then counted as skipped, and said so).
# Usage: scripts/test.sh [extra bazel test flags]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

bash scripts/install_deps.sh || exit 1
# The manifest test's npm packages, exactly as tests/deploy/package-lock.json
# pins them. Should this fail, //tests/deploy:manifests_test fails and says so.
(cd tests/deploy && npm ci --no-audit --no-fund) ||
  echo "test.sh: npm ci in tests/deploy failed"

# The Node client tests' packages, as tests/node/package-lock.json pins them
# (npm ci; skipped when node_modules already matches the lock file).
stamp="tests/node/node_modules/.installed-package-lock.json"
if ! cmp -s tests/node/package-lock.json "${stamp}"; then
  # Should this fail, the tests in tests/node fail and say so.
  if (cd tests/node && npm ci --ignore-scripts --no-audit --no-fund); then
    cp tests/node/package-lock.json "${stamp}"
  else
    echo "test.sh: npm ci in tests/node failed" >&2
  fi
fi

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

skipped=0
if [[ "${TOKENSERVICE_SKIP_IMAGE:-0}" == 1 ]]; then
  echo "image smoke test: SKIPPED (TOKENSERVICE_SKIP_IMAGE=1)"
  skipped=1
elif bash scripts/image_smoke_test.sh; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  status=1
fi

if ((skipped)); then
  echo "${passed} passed, ${failed} failed, ${skipped} skipped"
else
  echo "${passed} passed, ${failed} failed"
fi
exit "${status}"
