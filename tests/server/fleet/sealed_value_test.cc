#include "server/fleet/sealed_value.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/fleet/key_dir.h"
#include "tests/testing/status_matchers.h"

namespace tokenservice {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kName[] = "/tokenservice/tokens/0123abcd";
constexpr char kCanary[] = "CANARY-access-token-sealed-value";

class SealedValueTest : public ::testing::Test {
 protected:
  SealedValueTest() {
    dir_.AddKey("k1");
    dir_.Activate("k1");
  }

  FleetKeyring Keyring() {
    auto keyring = FleetKeyring::Load(dir_.path());
    EXPECT_TRUE(keyring.ok()) << keyring.status();
    return *std::move(keyring);
  }

  KeyDir dir_;
};

TEST_F(SealedValueTest, OpensWhatItSealed) {
  const FleetKeyring keyring = Keyring();
  for (const std::string& plaintext :
       {std::string(kCanary), std::string(), std::string(5000, '\0')}) {
    auto sealed = Seal(keyring, kName, plaintext);
    ASSERT_TRUE(sealed.ok()) << sealed.status();
    auto opened = Unseal(keyring, kName, *sealed);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(*opened, plaintext);
  }
}

TEST_F(SealedValueTest, HoldsNoPlaintextAndANewNonceEachTime) {
  const FleetKeyring keyring = Keyring();
  auto first = Seal(keyring, kName, kCanary);
  auto second = Seal(keyring, kName, kCanary);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_THAT(*first, Not(HasSubstr("CANARY")));
  EXPECT_THAT(*first, Not(HasSubstr(keyring.active_key())));
  EXPECT_NE(*first, *second);
  // version, id length, "k1", 12-byte nonce, ciphertext, 16-byte tag.
  EXPECT_EQ(first->size(), 2 + 2 + 12 + std::string(kCanary).size() + 16);
}

// Flipping any one bit anywhere, the key id included, is detected.
TEST_F(SealedValueTest, EveryAlteredByteIsDetected) {
  const FleetKeyring keyring = Keyring();
  auto sealed = Seal(keyring, kName, kCanary);
  ASSERT_TRUE(sealed.ok());
  for (size_t i = 0; i < sealed->size(); ++i) {
    std::string altered = *sealed;
    altered[i] ^= 0x01;
    auto opened = Unseal(keyring, kName, altered);
    EXPECT_FALSE(opened.ok()) << "byte " << i;
    EXPECT_THAT(std::string(opened.status().message()),
                Not(HasSubstr("CANARY")));
  }
  EXPECT_THAT(Unseal(keyring, kName, sealed->substr(0, sealed->size() - 1)),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(Unseal(keyring, kName, ""),
              StatusIs(absl::StatusCode::kDataLoss));
}

// A value copied under another etcd key does not open there.
TEST_F(SealedValueTest, IsBoundToItsEtcdKey) {
  const FleetKeyring keyring = Keyring();
  auto sealed = Seal(keyring, kName, kCanary);
  ASSERT_TRUE(sealed.ok());
  auto moved = Unseal(keyring, "/tokenservice/tokens/ffff", *sealed);
  EXPECT_THAT(moved, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(moved, MessageHas("ffff"));
}

// Relabelling a value with another key id that the keyring holds fails:
// the id is authenticated, not just a hint.
TEST_F(SealedValueTest, IsBoundToItsKeyId) {
  dir_.AddKey("k2");
  const FleetKeyring keyring = Keyring();
  auto sealed = Seal(keyring, kName, kCanary);
  ASSERT_TRUE(sealed.ok());
  std::string relabelled = *sealed;
  ASSERT_EQ(relabelled.substr(2, 2), "k1");
  relabelled[3] = '2';
  EXPECT_THAT(Unseal(keyring, kName, relabelled),
              StatusIs(absl::StatusCode::kDataLoss));
}

// The rotation: values sealed with the old key open while its file stays;
// new writes use the new active key; an unknown id is named.
TEST_F(SealedValueTest, OpensOldValuesAcrossARotation) {
  auto old_value = Seal(Keyring(), kName, kCanary);
  ASSERT_TRUE(old_value.ok());

  dir_.AddKey("k2");
  dir_.Activate("k2");
  const FleetKeyring rotated = Keyring();
  auto opened = Unseal(rotated, kName, *old_value);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, kCanary);
  auto new_value = Seal(rotated, kName, kCanary);
  ASSERT_TRUE(new_value.ok());
  EXPECT_EQ(new_value->substr(2, 2), "k2");

  dir_.Remove("k1");
  auto gone = Unseal(Keyring(), kName, *old_value);
  EXPECT_THAT(gone, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(gone, MessageHas("\"k1\""));
}

// A value sealed under a key this replica has not loaded yet (another
// replica switched `active` first) is FAILED_PRECONDITION, not data loss.
TEST_F(SealedValueTest, AKeyNotLoadedYetIsNamed) {
  KeyDir other;
  other.AddKey("k9");
  other.Activate("k9");
  auto other_keyring = FleetKeyring::Load(other.path());
  ASSERT_TRUE(other_keyring.ok());
  auto sealed = Seal(*other_keyring, kName, kCanary);
  ASSERT_TRUE(sealed.ok());
  auto opened = Unseal(Keyring(), kName, *sealed);
  EXPECT_THAT(opened, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(opened, MessageHas("\"k9\""));
}

// The same id with different bytes on two replicas (a botched rotation)
// does not open, and says so.
TEST_F(SealedValueTest, TheSameIdWithOtherBytesDoesNotOpen) {
  KeyDir other;
  other.AddKey("k1");
  other.Activate("k1");
  auto other_keyring = FleetKeyring::Load(other.path());
  ASSERT_TRUE(other_keyring.ok());
  auto sealed = Seal(*other_keyring, kName, kCanary);
  ASSERT_TRUE(sealed.ok());
  EXPECT_THAT(Unseal(Keyring(), kName, *sealed),
              StatusIs(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace tokenservice
