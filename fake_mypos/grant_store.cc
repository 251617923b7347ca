#include "fake_mypos/grant_store.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"

namespace tokenservice {
namespace fake_mypos {
namespace {

constexpr int kTokenBytes = 30;  // 40 characters of base64url

absl::Status InvalidGrant() {
  return absl::InvalidArgumentError("invalid_grant");
}

}  // namespace

std::string NewOpaqueToken() {
  unsigned char bytes[kTokenBytes];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return "";
  return absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

std::string S256Challenge(absl::string_view verifier) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(verifier.data()),
         verifier.size(), digest);
  return absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

std::string GrantStore::IssueCode(const std::string& client_id,
                                  const std::string& redirect_uri,
                                  const std::string& code_challenge,
                                  std::vector<std::string> scopes) {
  std::string code = NewOpaqueToken();
  MutexLock lock(&mu_);
  codes_[code] =
      Code{client_id, redirect_uri, code_challenge, std::move(scopes)};
  return code;
}

absl::StatusOr<std::vector<std::string>> GrantStore::RedeemCode(
    const std::string& client_id, const std::string& code,
    const std::string& redirect_uri, const std::string& code_verifier) {
  MutexLock lock(&mu_);
  auto it = codes_.find(code);
  if (it == codes_.end()) return InvalidGrant();
  Code grant = std::move(it->second);
  codes_.erase(it);  // single use, even when this attempt fails
  if (grant.client_id != client_id || grant.redirect_uri != redirect_uri) {
    return InvalidGrant();
  }
  if (!grant.code_challenge.empty() &&
      (code_verifier.empty() ||
       S256Challenge(code_verifier) != grant.code_challenge)) {
    return InvalidGrant();
  }
  return std::move(grant.scopes);
}

absl::StatusOr<std::vector<std::string>> GrantStore::Redeem(
    const std::string& client_id,
    const std::map<std::string, std::string>& form) {
  auto field = [&form](const char* name) {
    auto it = form.find(name);
    return it == form.end() ? std::string() : it->second;
  };
  if (field("grant_type") == "authorization_code") {
    return RedeemCode(client_id, field("code"), field("redirect_uri"),
                      field("code_verifier"));
  }
  return UseRefreshToken(client_id, field("refresh_token"));
}

std::string GrantStore::IssueRefreshToken(const std::string& client_id,
                                          std::vector<std::string> scopes) {
  std::string token = NewOpaqueToken();
  MutexLock lock(&mu_);
  refresh_[token] = Refresh{client_id, std::move(scopes)};
  return token;
}

absl::StatusOr<std::vector<std::string>> GrantStore::UseRefreshToken(
    const std::string& client_id, const std::string& refresh_token) const {
  MutexLock lock(&mu_);
  auto it = refresh_.find(refresh_token);
  if (it == refresh_.end() || it->second.client_id != client_id) {
    return InvalidGrant();
  }
  return it->second.scopes;
}

}  // namespace fake_mypos
}  // namespace tokenservice
