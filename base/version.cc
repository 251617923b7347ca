#include "base/version.h"

#include "absl/strings/str_cat.h"

namespace tokenservice {

// Defined in the generated build_stamp.cc (base/BUILD.bazel).
extern const char kBuildCommit[];

absl::string_view BuildCommit() { return kBuildCommit; }

std::string VersionString(absl::string_view program) {
  return absl::StrCat(program, " ", kVersion, " (commit ", BuildCommit(),
                      ")\n");
}

}  // namespace tokenservice
