#include "base/scopes.h"

#include <algorithm>
#include <functional>

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
  if (scope.empty() || scope.size() > kMaxScopeLength) return false;
  // A loop rather than std::all_of(..., IsScopeChar): that calls through a
  // function pointer for every character, on every Issue.
  for (char c : scope) {
    if (!IsScopeChar(c)) return false;
  }
  return true;
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

bool IsNormalized(const std::vector<std::string>& scopes) {
  return std::adjacent_find(scopes.begin(), scopes.end(),
                            std::greater_equal<>()) == scopes.end();
}

std::vector<std::string> SplitScopes(absl::string_view scope) {
  return absl::StrSplit(scope, ' ', absl::SkipEmpty());
}

}  // namespace tokenservice
