// TokenKey: which token a caller wants — a credential profile and a scope
// set — in the normalized form that keys TokenClient's cache.

#ifndef CLIENT_TOKEN_KEY_H_
#define CLIENT_TOKEN_KEY_H_

#include <string>
#include <vector>

namespace tokenservice {

// A credential profile name (empty: the server's default) and a scope set.
// Scopes are sorted and deduplicated on construction, so {"b", "a", "a"}
// and {"a", "b"} are the same key, as they are on the server. Build keys
// once and reuse them: a lookup then only hashes the prepared string.
//
// Thread-compatible; immutable after construction.
class TokenKey {
 public:
  explicit TokenKey(std::string credential = "",
                    std::vector<std::string> scopes = {});

  const std::string& credential() const { return credential_; }
  const std::vector<std::string>& scopes() const { return scopes_; }

  // The cache key: credential, then each scope, separated by a character
  // that neither may contain.
  const std::string& cache_key() const { return cache_key_; }

  friend bool operator==(const TokenKey& a, const TokenKey& b) {
    return a.cache_key_ == b.cache_key_;
  }
  friend bool operator!=(const TokenKey& a, const TokenKey& b) {
    return !(a == b);
  }

 private:
  std::string credential_;
  std::vector<std::string> scopes_;
  std::string cache_key_;
};

}  // namespace tokenservice

#endif  // CLIENT_TOKEN_KEY_H_
