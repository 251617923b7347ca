#include "base/scopes.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenservice {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ValidateScope, AcceptsRfc6749Characters) {
  EXPECT_TRUE(ValidateScope("scopes[0]", "webhooks").ok());
  EXPECT_TRUE(ValidateScope("scopes[0]", "a!#[]~:/").ok());
}

TEST(ValidateScope, RejectsSpaceQuoteBackslashAndNonAscii) {
  for (const std::string bad : {"a b", "a\"b", "a\\b", "caf\xc3\xa9", "\t"}) {
    absl::Status s = ValidateScope("scopes[3]", bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr("scopes[3]"));
  }
}

TEST(ValidateScope, RejectsEmptyAndTooLong) {
  EXPECT_EQ(ValidateScope("s", "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateScope("s", std::string(kMaxScopeLength + 1, 'a')).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(IsValidScope, AgreesWithValidateScope) {
  const std::string scopes[] = {"webhooks",
                                "a!#[]~:/",
                                "a b",
                                "a\"b",
                                "a\\b",
                                "caf\xc3\xa9",
                                "\t",
                                "",
                                std::string(kMaxScopeLength, 'a'),
                                std::string(kMaxScopeLength + 1, 'a')};
  for (const std::string& scope : scopes) {
    EXPECT_EQ(IsValidScope(scope), ValidateScope("s", scope).ok()) << scope;
  }
}

TEST(NormalizeScopes, SortsAndRemovesDuplicates) {
  EXPECT_THAT(NormalizeScopes({"b", "a", "b"}), ElementsAre("a", "b"));
}

TEST(IsNormalized, OnlyWhatNormalizeScopesWouldLeaveAsItIs) {
  EXPECT_TRUE(IsNormalized({}));
  EXPECT_TRUE(IsNormalized({"a"}));
  EXPECT_TRUE(IsNormalized({"a", "b", "c"}));
  EXPECT_FALSE(IsNormalized({"b", "a"}));
  EXPECT_FALSE(IsNormalized({"a", "a"}));
  EXPECT_FALSE(IsNormalized({"a", "c", "b"}));
  for (const std::vector<std::string>& scopes :
       std::vector<std::vector<std::string>>{
           {"b", "a", "b"}, {"x"}, {"a", "b"}, {"b", "b"}}) {
    EXPECT_EQ(IsNormalized(scopes), NormalizeScopes(scopes) == scopes);
  }
}

TEST(SplitScopes, SplitsOnSpacesSkippingEmpty) {
  EXPECT_THAT(SplitScopes(" a  b "), ElementsAre("a", "b"));
  EXPECT_TRUE(SplitScopes("").empty());
}

}  // namespace
}  // namespace tokenservice
