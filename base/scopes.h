// OAuth2 scope handling (RFC 6749 section 3.3): validation and the
// normalized form that keys the token cache.

#ifndef BASE_SCOPES_H_
#define BASE_SCOPES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tokenservice {

inline constexpr int kMaxScopes = 32;
inline constexpr int kMaxScopeLength = 128;

// OK when `scope` is 1 to 128 RFC 6749 scope-token characters (%x21 /
// %x23-5B / %x5D-7E); otherwise kInvalidArgument naming `field`.
absl::Status ValidateScope(absl::string_view field, absl::string_view scope);
// Whether ValidateScope would return OK, without building a status.
bool IsValidScope(absl::string_view scope);

// Sorted and without duplicates, so that equal scope sets compare equal.
std::vector<std::string> NormalizeScopes(std::vector<std::string> scopes);
// Whether `scopes` is already what NormalizeScopes makes of it.
bool IsNormalized(const std::vector<std::string>& scopes);

// Splits a space-separated `scope` value into its tokens.
std::vector<std::string> SplitScopes(absl::string_view scope);

}  // namespace tokenservice

#endif  // BASE_SCOPES_H_
