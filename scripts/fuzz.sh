#!/usr/bin/env bash
# Builds the libFuzzer harnesses in fuzz/ with clang (bazel --config=fuzz:
# -fsanitize=fuzzer,address,undefined) and runs each for FUZZ_SECONDS
# (default 60) from its seed corpus fuzz/corpus/NAME/ and the inputs that
# crashed it before, fuzz/regressions/NAME/.
#
# An input that crashes a harness (a sanitizer report, a broken invariant, a
# timeout or running out of memory) is copied to fuzz/regressions/NAME/ and
# the run fails: commit it with the fix, and //fuzz:replay_test replays it
# in every `bazel test //...` from then on. New coverage found on the way
# is kept in a scratch directory, not in the repository.
#
# Prints one line per harness in Bazel's summary format
# ("//fuzz:NAME_fuzzer  PASSED in 60s"), which scripts/test.sh counts.
# Usage: scripts/fuzz.sh [NAME...]   (default: every harness)
set -uo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
names=("$@")
if ((${#names[@]} == 0)); then
  names=(oauth_reply config_file request_validation)
fi
targets=()
for name in "${names[@]}"; do targets+=("//fuzz:${name}_fuzzer"); done

command -v clang >/dev/null || {
  echo "fuzz: clang is missing (scripts/install_deps.sh installs it)" >&2
  exit 1
}
echo "+ bazel build --config=fuzz ${targets[*]}"
if ! bazel build --config=fuzz "${targets[@]}"; then
  for target in "${targets[@]}"; do echo "${target}  FAILED TO BUILD"; done
  exit 1
fi
bin="$(bazel info --config=fuzz bazel-bin 2>/dev/null)"

scratch="$(mktemp -d)"
trap 'rm -rf "${scratch}"' EXIT
status=0
for name in "${names[@]}"; do
  mkdir -p "${scratch}/${name}/corpus" "${scratch}/${name}/artifacts"
  seeds=("fuzz/corpus/${name}")
  if [[ -d "fuzz/regressions/${name}" ]]; then
    seeds+=("fuzz/regressions/${name}")
  fi
  log="${scratch}/${name}/log"
  echo "+ ${name}_fuzzer -max_total_time=${seconds} ${seeds[*]}"
  start=${SECONDS}
  # Absolute paths, so the run does not depend on the working directory.
  "${bin}/fuzz/${name}_fuzzer" \
    -max_total_time="${seconds}" -timeout=10 -rss_limit_mb=2048 \
    -max_len=4096 -print_final_stats=1 \
    -artifact_prefix="${scratch}/${name}/artifacts/" \
    "${scratch}/${name}/corpus" "${seeds[@]/#/${PWD}/}" >"${log}" 2>&1
  rc=$?
  elapsed=$((SECONDS - start))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "${log}")
  if ((rc == 0)); then
    echo "//fuzz:${name}_fuzzer  PASSED in ${elapsed}s (${runs:-?} runs)"
    continue
  fi
  status=1
  tail -n 40 "${log}"
  mkdir -p "fuzz/regressions/${name}"
  for artifact in "${scratch}/${name}/artifacts/"*; do
    [[ -e "${artifact}" ]] || continue
    cp "${artifact}" "fuzz/regressions/${name}/"
    echo "fuzz: kept fuzz/regressions/${name}/$(basename "${artifact}")"
  done
  echo "//fuzz:${name}_fuzzer  FAILED in ${elapsed}s (libFuzzer exit ${rc})"
done
exit "${status}"
