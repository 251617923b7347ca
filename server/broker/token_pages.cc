#include "server/broker/token_pages.h"

#include <algorithm>
#include <utility>

namespace tokenservice {

using mypos::token::v1::ListTokensResponse;
using mypos::token::v1::TokenInfo;

ListTokensResponse PageOfTokens(
    std::vector<TokenInfo> tokens, int page_size, absl::string_view page_token,
    const std::function<bool(absl::string_view)>& visible) {
  if (visible) {
    tokens.erase(std::remove_if(tokens.begin(), tokens.end(),
                                [&visible](const TokenInfo& info) {
                                  return !visible(info.credential());
                                }),
                 tokens.end());
  }
  auto first =
      std::upper_bound(tokens.begin(), tokens.end(), page_token,
                       [](absl::string_view token, const TokenInfo& info) {
                         return token < info.fingerprint();
                       });
  ListTokensResponse response;
  for (auto it = first; it != tokens.end(); ++it) {
    if (response.tokens_size() == page_size) {
      response.set_next_page_token(response.tokens().rbegin()->fingerprint());
      break;
    }
    *response.add_tokens() = std::move(*it);
  }
  return response;
}

}  // namespace tokenservice
