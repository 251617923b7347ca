#include "server/rpc/caller_policy.h"

#include "gtest/gtest.h"

namespace tokenservice {
namespace {

CallerPolicy TwoCallers() {
  return CallerPolicy({
      {"by-cert", {"spiffe://x/a", "a.internal"}, "", {"p1"}, true, false},
      {"by-key", {}, CallerPolicy::KeyDigest("key-2"), {"*"}, false, true},
  });
}

TEST(CallerPolicy, EmptyPolicyIsOpenAndAllowsEverything) {
  CallerPolicy open;
  EXPECT_TRUE(open.open());
  auto caller = open.Authenticate({}, "");
  ASSERT_TRUE(caller.ok());
  EXPECT_EQ(*caller, nullptr);
  EXPECT_TRUE(CallerPolicy::MayUse(nullptr, "anything"));
}

TEST(CallerPolicy, IdentifiesByCertificateIdentity) {
  CallerPolicy policy = TwoCallers();
  auto caller = policy.Authenticate({"other", "a.internal"}, "");
  ASSERT_TRUE(caller.ok());
  EXPECT_EQ((*caller)->name, "by-cert");
  EXPECT_TRUE(CallerPolicy::MayUse(*caller, "p1"));
  EXPECT_FALSE(CallerPolicy::MayUse(*caller, "p2"));
}

TEST(CallerPolicy, IdentifiesByKeyAndWildcardAllowsAllProfiles) {
  CallerPolicy policy = TwoCallers();
  auto caller = policy.Authenticate({}, "key-2");
  ASSERT_TRUE(caller.ok());
  EXPECT_EQ((*caller)->name, "by-key");
  EXPECT_TRUE(CallerPolicy::MayUse(*caller, "p2"));
}

TEST(CallerPolicy, UnknownKeyOrIdentityIsUnauthenticated) {
  CallerPolicy policy = TwoCallers();
  EXPECT_EQ(policy.Authenticate({}, "key-3").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(policy.Authenticate({"spiffe://x/b"}, "").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(policy.Authenticate({}, "").status().code(),
            absl::StatusCode::kUnauthenticated);
  // A wrong key is not rescued by a good certificate.
  EXPECT_EQ(policy.Authenticate({"a.internal"}, "key-3").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(CallerPolicy, KeyDigestIsSha256) {
  EXPECT_EQ(CallerPolicy::KeyDigest("abc").size(), 32u);
  EXPECT_EQ(static_cast<unsigned char>(CallerPolicy::KeyDigest("abc")[0]),
            0xba);
}

}  // namespace
}  // namespace tokenservice
