#!/usr/bin/env bash
# Bazel's --workspace_status_command under --config=release (.bazelrc): the
# commit that base/version.h reports. TOKENSERVICE_COMMIT wins (the
# container build has no .git); otherwise git's HEAD, "-dirty" when the
# tree has changes; "unknown" when neither is there.
set -uo pipefail
commit="${TOKENSERVICE_COMMIT:-}"
if [[ -z "${commit}" ]] && command -v git >/dev/null &&
    commit="$(git rev-parse HEAD 2>/dev/null)"; then
  git diff --quiet HEAD 2>/dev/null || commit="${commit}-dirty"
fi
echo "STABLE_TOKENSERVICE_COMMIT ${commit:-unknown}"
