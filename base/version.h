// The build's version, for `--version` on every binary and the
// tokenservice_build_info metric.
//
// kVersion is the release, set here by hand when one is cut. The commit is
// stamped only by `bazel build --config=release` (scripts/workspace_status.sh
// reads git, or TOKENSERVICE_COMMIT where there is no .git, as in the
// container build); every other build says "unknown", so that a commit does
// not relink and rerun every test.

#ifndef BASE_VERSION_H_
#define BASE_VERSION_H_

#include <string>

#include "absl/strings/string_view.h"

namespace tokenservice {

inline constexpr char kVersion[] = "0.1.0";

// The git commit the binary was built from, or "unknown".
absl::string_view BuildCommit();

// What `PROGRAM --version` prints: "PROGRAM 0.1.0 (commit abc123...)\n".
std::string VersionString(absl::string_view program);

}  // namespace tokenservice

#endif  // BASE_VERSION_H_
