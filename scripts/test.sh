#!/usr/bin/env bash
# Installs what is missing, then runs the whole test suite:
#   0. scripts/check_format.sh         every C++ file formatted (.clang-format)
#   1. bazel test //...                every test (gcc)
#   2. bazel test --config=asan //...  every test again under AddressSanitizer
#                                      + UndefinedBehaviorSanitizer (+ leaks)
#   3. bazel test --config=tsan //...  every test again under ThreadSanitizer
#   4. scripts/fuzz.sh                 each libFuzzer harness for
#                                      FUZZ_SECONDS (default 60)
#   5. scripts/image_smoke_test.sh     builds the container image and runs it
#                                      against the fake myPOS
# and ends with the line "N passed, N failed": one per test target and
# configuration, plus one per fuzz harness, plus the format check and the
# image smoke test, plus the check that Bazel kept no action sandbox.
# TOKENSERVICE_SKIP_IMAGE=1 skips the image (then counted as skipped, and
# said so). Each stage's wall-clock time is printed as it ends.
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
format_ok=1
stage "format" bash scripts/check_format.sh
if ((status != 0)); then format_ok=0; fi
stage "bazel test" bazel test //... "$@"
stage "bazel test --config=asan" bazel test --config=asan //... "$@"
stage "bazel test --config=tsan" bazel test --config=tsan //... "$@"
stage "fuzz" bash scripts/fuzz.sh

# Bazel removes each action's sandbox when it ends unless --sandbox_debug is
# on, as Debian's /etc/bazel/bazelrc has it (.bazelrc turns it off). Kept
# sandboxes filled the disk once: catch them coming back.
sandboxes_removed() {
  local base kept
  base="$(bazel info output_base 2>/dev/null)"
  if [[ -z "${base}" ]]; then
    echo "test.sh: bazel info output_base failed: cannot check the sandboxes"
    return 1
  fi
  kept="${base}/sandbox/processwrapper-sandbox"
  if [[ -d "${kept}" ]] && [[ -n "$(ls -A "${kept}")" ]]; then
    echo "test.sh: Bazel kept $(ls "${kept}" | wc -l) action sandboxes" \
      "($(du -sh "${kept}" | cut -f1)) in ${kept}: is --sandbox_debug on?"
    return 1
  fi
  echo "test.sh: no action sandbox was kept"
}
sandboxes_ok=1
sandboxes_removed || { sandboxes_ok=0; status=1; }

for timing in "${timings[@]}"; do echo "stage time ${timing}"; done
# Bazel's summary has one line per test target: "//pkg:name  PASSED in 0.1s";
# scripts/fuzz.sh prints one such line per harness.
passed=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "${log}")
failed=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FAILED TO BUILD|FLAKY)' "${log}")
if ((format_ok)); then passed=$((passed + 1)); else failed=$((failed + 1)); fi
if ((sandboxes_ok)); then passed=$((passed + 1)); else failed=$((failed + 1)); fi
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
