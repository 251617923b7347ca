#include "server/broker/caller_profiles.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace tokenservice {

absl::StatusOr<CallerProfiles> CallerProfiles::Create() {
  std::string key(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()),
                 static_cast<int>(key.size())) != 1) {
    return absl::InternalError(
        "OpenSSL has no random bytes for the caller-secret hash key");
  }
  return CallerProfiles(std::move(key));
}

CredentialProfile CallerProfiles::ProfileFor(
    const ClientCredentials& credentials) const {
  CredentialProfile profile;
  profile.name = absl::StrCat(kCallerSuppliedPrefix, credentials.client_id);
  profile.credentials = credentials;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(credentials.client_secret.data()),
       credentials.client_secret.size(), mac, &mac_size);
  profile.secret_hash = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(mac), mac_size));
  return profile;
}

std::string CallerProfiles::CacheOwner(const CredentialProfile& profile) {
  return profile.secret_hash.empty()
             ? profile.name
             : absl::StrCat(profile.name, "#", profile.secret_hash);
}

}  // namespace tokenservice
