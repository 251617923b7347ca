#!/usr/bin/env bash
# Fails when a C++ file of ours (every .h and .cc outside bazel-* and
# node_modules) is not formatted as .clang-format
# (Google style) says, with Debian's clang-format 14, and names each such
# file. scripts/check_format.sh --fix formats them in place instead.
set -euo pipefail
cd "$(dirname "$0")/.."

fix=0
case "${1:-}" in
  "") ;;
  --fix) fix=1 ;;
  *) echo "usage: $0 [--fix]" >&2; exit 2 ;;
esac

clang_format=clang-format-14
command -v "${clang_format}" >/dev/null || clang_format=clang-format
mapfile -t files < <(find . \( -name 'bazel-*' -o -name node_modules -o \
  -name .git \) -prune -o -type f \( -name '*.h' -o -name '*.cc' \) -print |
  sort)
if ((fix)); then
  "${clang_format}" -i "${files[@]}"
  exit 0
fi
unformatted=()
for file in "${files[@]}"; do
  if ! "${clang_format}" --dry-run --Werror "${file}" 2>/dev/null; then
    unformatted+=("${file}")
  fi
done
if ((${#unformatted[@]} > 0)); then
  printf 'not formatted: %s\n' "${unformatted[@]}"
  echo "check_format: ${#unformatted[@]} file(s); run scripts/check_format.sh --fix"
  exit 1
fi
echo "check_format: ${#files[@]} files formatted"
