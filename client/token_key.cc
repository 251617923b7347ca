#include "client/token_key.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/scopes.h"

namespace tokenservice {

TokenKey::TokenKey(std::string credential, std::vector<std::string> scopes)
    : credential_(std::move(credential)),
      scopes_(NormalizeScopes(std::move(scopes))) {
  // '\n' is neither a scope character (RFC 6749 section 3.3) nor allowed in
  // a profile name by the server's validation.
  cache_key_ = absl::StrCat(credential_, "\n", absl::StrJoin(scopes_, "\n"));
}

}  // namespace tokenservice
