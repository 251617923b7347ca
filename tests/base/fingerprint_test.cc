#include "base/fingerprint.h"

#include "gtest/gtest.h"

namespace tokenservice {
namespace {

TEST(Fingerprint, IsTruncatedSha256InHex) {
  // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223...
  EXPECT_EQ(Fingerprint("abc"), "ba7816bf8f01cfea");
  EXPECT_TRUE(IsFingerprint(Fingerprint("any token")));
}

TEST(IsFingerprint, RejectsWrongLengthAndUpperCase) {
  EXPECT_FALSE(IsFingerprint("ba7816bf8f01cfe"));
  EXPECT_FALSE(IsFingerprint("BA7816BF8F01CFEA"));
  EXPECT_FALSE(IsFingerprint("ba7816bf8f01cfeg"));
}

}  // namespace
}  // namespace tokenservice
