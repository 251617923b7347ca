// Replays every committed fuzz input through its harness: the seed corpora
// (fuzz/corpus/NAME/) and the crashes found so far (fuzz/regressions/NAME/).
// Built with the ordinary toolchain, so `bazel test //...` (and the asan
// and tsan configs) keep every input that ever crashed a harness fixed.
// A harness aborts on a broken invariant; the log then names the file.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/config_file_harness.h"
#include "fuzz/oauth_reply_harness.h"
#include "fuzz/request_validation_harness.h"
#include "gtest/gtest.h"

namespace tokenservice {
namespace fuzz {
namespace {

namespace fs = std::filesystem;

using Harness = void (*)(const uint8_t*, size_t);

// The files under fuzz/DIR/NAME/ in the runfiles, or none.
std::vector<fs::path> Inputs(const std::string& dir, const std::string& name) {
  const fs::path root = fs::path(std::getenv("TEST_SRCDIR")) /
                        std::getenv("TEST_WORKSPACE") / "fuzz" / dir / name;
  std::vector<fs::path> files;
  std::error_code error;
  for (const auto& entry : fs::recursive_directory_iterator(root, error)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  return files;
}

int Replay(Harness harness, const std::vector<fs::path>& files) {
  for (const fs::path& file : files) {
    std::ifstream in(file, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
    std::fprintf(stderr, "replaying %s\n", file.c_str());
    harness(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  return static_cast<int>(files.size());
}

void ReplayAll(const std::string& name, Harness harness) {
  EXPECT_GE(Replay(harness, Inputs("corpus", name)), 3)
      << "the seed corpus fuzz/corpus/" << name << " is missing";
  Replay(harness, Inputs("regressions", name));
}

TEST(FuzzReplay, OAuthReply) { ReplayAll("oauth_reply", FuzzOAuthReply); }

TEST(FuzzReplay, ConfigFile) { ReplayAll("config_file", FuzzConfigFile); }

TEST(FuzzReplay, RequestValidation) {
  ReplayAll("request_validation", FuzzRequestValidation);
}

}  // namespace
}  // namespace fuzz
}  // namespace tokenservice
