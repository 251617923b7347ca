// Paging of token metadata for ListTokens.

#ifndef SERVER_BROKER_TOKEN_PAGES_H_
#define SERVER_BROKER_TOKEN_PAGES_H_

#include <functional>
#include <vector>

#include "absl/strings/string_view.h"
#include "proto/token_service.pb.h"

namespace tokenservice {

// The page of `tokens` (ordered by fingerprint) that follows `page_token`
// (the last fingerprint of the previous page; empty: the first page): at
// most `page_size` tokens whose profile `visible` accepts (all when
// `visible` is empty), with next_page_token set when more follow.
mypos::token::v1::ListTokensResponse PageOfTokens(
    std::vector<mypos::token::v1::TokenInfo> tokens, int page_size,
    absl::string_view page_token,
    const std::function<bool(absl::string_view profile)>& visible);

}  // namespace tokenservice

#endif  // SERVER_BROKER_TOKEN_PAGES_H_
