#include "server/fleet/fleet_keyring.h"

#include <filesystem>
#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/fleet/key_dir.h"
#include "tests/testing/status_matchers.h"

namespace tokenservice {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Decoded(const std::string& base64) {
  std::string bytes;
  EXPECT_TRUE(absl::Base64Unescape(base64, &bytes));
  return bytes;
}

TEST(FleetKeyringTest, LoadsEveryKeyAndTheActiveOne) {
  KeyDir dir;
  const std::string k1 = dir.AddKey("k1");
  const std::string k2 = dir.AddKey("2026-12.b");
  dir.Activate("2026-12.b");
  auto keyring = FleetKeyring::Load(dir.path());
  ASSERT_TRUE(keyring.ok()) << keyring.status();
  EXPECT_THAT(keyring->ids(), ElementsAre("2026-12.b", "k1"));
  EXPECT_EQ(keyring->active_id(), "2026-12.b");
  EXPECT_EQ(keyring->active_key(), Decoded(k2));
  ASSERT_NE(keyring->Find("k1"), nullptr);
  EXPECT_EQ(*keyring->Find("k1"), Decoded(k1));
  EXPECT_EQ(keyring->active_key().size(), 32u);
  EXPECT_EQ(keyring->Find("k3"), nullptr);
  EXPECT_EQ(keyring->Find("active"), nullptr);
}

// A Kubernetes Secret volume: the files live in a "..2026_..." directory,
// "..data" links to it, and each key is a link through "..data".
TEST(FleetKeyringTest, ReadsASecretVolumeLayout) {
  KeyDir dir;
  namespace fs = std::filesystem;
  const fs::path root(dir.path());
  fs::create_directory(root / "..2026_12_03_10_00_00.1");
  const std::string k1 = dir.AddKey("..2026_12_03_10_00_00.1/k1");
  dir.Write("..2026_12_03_10_00_00.1/active", "k1");
  fs::create_directory_symlink("..2026_12_03_10_00_00.1", root / "..data");
  fs::create_symlink("..data/k1", root / "k1");
  fs::create_symlink("..data/active", root / "active");
  auto keyring = FleetKeyring::Load(dir.path());
  ASSERT_TRUE(keyring.ok()) << keyring.status();
  EXPECT_THAT(keyring->ids(), ElementsAre("k1"));
  EXPECT_EQ(keyring->active_key(), Decoded(k1));
}

// The rotation docs/operations.md describes, one Load per step.
TEST(FleetKeyringTest, EachLoadSeesTheDirectoryAsItIsNow) {
  KeyDir dir;
  dir.AddKey("old");
  dir.Activate("old");
  ASSERT_TRUE(FleetKeyring::Load(dir.path()).ok());

  dir.AddKey("new");
  auto added = FleetKeyring::Load(dir.path());
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_THAT(added->ids(), ElementsAre("new", "old"));
  EXPECT_EQ(added->active_id(), "old");

  dir.Activate("new");
  auto switched = FleetKeyring::Load(dir.path());
  ASSERT_TRUE(switched.ok()) << switched.status();
  EXPECT_EQ(switched->active_id(), "new");

  dir.Remove("old");
  auto removed = FleetKeyring::Load(dir.path());
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_THAT(removed->ids(), ElementsAre("new"));
}

TEST(FleetKeyringTest, AMissingDirectoryIsAnError) {
  auto keyring = FleetKeyring::Load("/nonexistent/fleet-keys");
  EXPECT_THAT(keyring, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(keyring, MessageHas("/nonexistent/fleet-keys"));
}

TEST(FleetKeyringTest, NoActiveFileIsAnError) {
  KeyDir dir;
  dir.AddKey("k1");
  auto keyring = FleetKeyring::Load(dir.path());
  EXPECT_THAT(keyring, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(keyring, MessageHas("\"active\""));
}

TEST(FleetKeyringTest, AnActiveIdWithoutItsKeyIsAnError) {
  KeyDir dir;
  dir.AddKey("k1");
  dir.Activate("k2");
  auto keyring = FleetKeyring::Load(dir.path());
  EXPECT_THAT(keyring, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(keyring, MessageHas("\"k2\""));
}

// A key that is not 32 bytes in base64 is refused, naming the file and
// never showing its content.
TEST(FleetKeyringTest, AMalformedKeyIsNamedNotShown) {
  const std::string canary_bytes = "CANARY-fleet-key-24bytes";
  const std::string canary = absl::Base64Escape(canary_bytes);
  for (const std::string& content :
       {canary, std::string("not base64 CANARY-fleet-key!"), std::string()}) {
    KeyDir dir;
    dir.AddKey("good");
    dir.Write("bad", content);
    dir.Activate("good");
    auto keyring = FleetKeyring::Load(dir.path());
    EXPECT_THAT(keyring, StatusIs(absl::StatusCode::kFailedPrecondition));
    EXPECT_THAT(keyring, MessageHas("\"bad\""));
    EXPECT_THAT(std::string(keyring.status().message()),
                Not(HasSubstr("CANARY")));
    EXPECT_THAT(std::string(keyring.status().message()),
                Not(HasSubstr(canary)));
  }
}

TEST(FleetKeyringTest, AFileNameThatIsNoKeyIdIsAnError) {
  KeyDir dir;
  dir.AddKey("good");
  dir.AddKey("bad id");
  dir.Activate("good");
  auto keyring = FleetKeyring::Load(dir.path());
  EXPECT_THAT(keyring, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(keyring, MessageHas("bad id"));
}

}  // namespace
}  // namespace tokenservice
