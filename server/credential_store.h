// CredentialStore: the myPOS API credentials TokenService holds, by profile
// name. Callers name a profile; only the server ever sees the secret.

#ifndef SERVER_CREDENTIAL_STORE_H_
#define SERVER_CREDENTIAL_STORE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/upstream/oauth_client.h"

namespace tokenservice {

struct CredentialProfile {
  std::string name;
  ClientCredentials credentials;
};

// Immutable after construction, so thread-safe.
class CredentialStore {
 public:
  // `default_profile` must name one of `profiles`.
  CredentialStore(std::string default_profile,
                  std::vector<CredentialProfile> profiles);

  // The profile called `name`, or the default one when `name` is empty.
  // kNotFound when there is no such profile.
  absl::StatusOr<CredentialProfile> Find(absl::string_view name) const;

  const std::string& default_profile() const { return default_profile_; }

 private:
  const std::string default_profile_;
  std::map<std::string, CredentialProfile, std::less<>> profiles_;
};

}  // namespace tokenservice

#endif  // SERVER_CREDENTIAL_STORE_H_
