#include "server/broker/token_pages.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tokenservice {
namespace {

using mypos::token::v1::ListTokensResponse;
using mypos::token::v1::TokenInfo;

// Tokens with fingerprints "a", "b", ... of the profiles given, in order.
std::vector<TokenInfo> Tokens(const std::vector<std::string>& profiles) {
  std::vector<TokenInfo> tokens;
  for (size_t i = 0; i < profiles.size(); ++i) {
    TokenInfo info;
    info.set_fingerprint(std::string(1, static_cast<char>('a' + i)));
    info.set_credential(profiles[i]);
    tokens.push_back(info);
  }
  return tokens;
}

std::string Fingerprints(const ListTokensResponse& response) {
  std::string out;
  for (const TokenInfo& info : response.tokens()) out += info.fingerprint();
  return out;
}

TEST(PageOfTokens, PagesFollowEachOtherUntilTheLastHasNoNextToken) {
  const std::vector<TokenInfo> all = Tokens({"p", "p", "p", "p", "p"});
  ListTokensResponse first = PageOfTokens(all, 2, "", nullptr);
  EXPECT_EQ(Fingerprints(first), "ab");
  EXPECT_EQ(first.next_page_token(), "b");
  ListTokensResponse second =
      PageOfTokens(all, 2, first.next_page_token(), nullptr);
  EXPECT_EQ(Fingerprints(second), "cd");
  ListTokensResponse last =
      PageOfTokens(all, 2, second.next_page_token(), nullptr);
  EXPECT_EQ(Fingerprints(last), "e");
  EXPECT_EQ(last.next_page_token(), "");
}

TEST(PageOfTokens, ExactlyFullLastPageHasNoNextToken) {
  ListTokensResponse page = PageOfTokens(Tokens({"p", "p"}), 2, "", nullptr);
  EXPECT_EQ(Fingerprints(page), "ab");
  EXPECT_EQ(page.next_page_token(), "");
}

TEST(PageOfTokens, InvisibleProfilesAreLeftOutBeforePaging) {
  ListTokensResponse page =
      PageOfTokens(Tokens({"mine", "theirs", "mine", "mine"}), 2, "",
                   [](absl::string_view profile) { return profile == "mine"; });
  EXPECT_EQ(Fingerprints(page), "ac");
  EXPECT_EQ(page.next_page_token(), "c");
}

TEST(PageOfTokens, PageTokenBetweenFingerprintsStartsAfterIt) {
  // A token that was the last of a page may be gone by the next call.
  ListTokensResponse page =
      PageOfTokens(Tokens({"p", "p", "p"}), 10, "bb", nullptr);
  EXPECT_EQ(Fingerprints(page), "c");
}

}  // namespace
}  // namespace tokenservice
