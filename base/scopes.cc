#include "base/scopes.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tokenservice {
namespace {

bool IsScopeChar(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return u == 0x21 || (u >= 0x23 && u <= 0x5B) || (u >= 0x5D && u <= 0x7E);
}

}  // namespace

bool IsValidScope(absl::string_view scope) {
  return !scope.empty() && scope.size() <= kMaxScopeLength &&
         std::all_of(scope.begin(), scope.end(), IsScopeChar);
}

absl::Status ValidateScope(absl::string_view field, absl::string_view scope) {
  if (scope.empty() || scope.size() > kMaxScopeLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " must be 1 to ", kMaxScopeLength, " characters long"));
  }
  if (!std::all_of(scope.begin(), scope.end(), IsScopeChar)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field,
                     " has a character not allowed in an OAuth2 scope "
                     "(RFC 6749 section 3.3)"));
  }
  return absl::OkStatus();
}

std::vector<std::string> NormalizeScopes(std::vector<std::string> scopes) {
  std::sort(scopes.begin(), scopes.end());
  scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
  return scopes;
}

std::vector<std::string> SplitScopes(absl::string_view scope) {
  return absl::StrSplit(scope, ' ', absl::SkipEmpty());
}

}  // namespace tokenservice
