// CredentialStore: the myPOS API credentials TokenService holds, by profile
// name. Callers name a profile; only the server ever sees the secret.
//
// A profile's id and secret are either values (from the environment, read
// at start) or files (a Kubernetes Secret volume) that are read again on
// every use, so a rotated secret is used by the next request to myPOS
// without a restart, while tokens already cached stay in service.

#ifndef SERVER_BROKER_CREDENTIAL_STORE_H_
#define SERVER_BROKER_CREDENTIAL_STORE_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/upstream/oauth_client.h"

namespace tokenservice {

inline constexpr int kMaxCredentialLength = 64;

// A credential profile name: at most 64 letters, digits, '-', '_', '.'.
// kInvalidArgument (reason INVALID_REQUEST) naming `field` otherwise, with
// the field in the ErrorInfo metadata "field".
absl::Status ValidateCredentialName(absl::string_view field,
                                    absl::string_view name);

struct CredentialProfile {
  std::string name;
  // Values, used where no file is named below.
  ClientCredentials credentials;
  // Files holding the id and the secret, read on every use.
  std::string client_id_file;
  std::string client_secret_file;
  // Scopes asked for when a caller names none.
  std::vector<std::string> default_scopes;
  // Caller-supplied credentials only: a keyed hash of the secret, so that
  // the cache tells secrets apart without holding them.
  std::string secret_hash;
};

// The content of the file at `path` without trailing CR/LF (editors and
// `echo` add them); nullopt when it cannot be opened. A file that opens but
// cannot be read (a directory) reads as empty.
std::optional<std::string> ReadTrimmedFile(const std::string& path);

// Immutable after construction, so thread-safe.
class CredentialStore {
 public:
  // `default_profile` must name one of `profiles`.
  CredentialStore(std::string default_profile,
                  std::vector<CredentialProfile> profiles);

  // The profile called `name`, or the default one when `name` is empty,
  // valid as long as the store. kNotFound when there is no such profile.
  // Its default_scopes are normalised (base/scopes.h).
  absl::StatusOr<const CredentialProfile*> Find(absl::string_view name) const;

  // The profile's id and secret as of now (files read again).
  // kFailedPrecondition naming the profile and file when one cannot be
  // read or is empty; never the content.
  static absl::StatusOr<ClientCredentials> Load(
      const CredentialProfile& profile);

  const std::string& default_profile() const { return default_profile_; }

 private:
  const std::string default_profile_;
  std::map<std::string, CredentialProfile, std::less<>> profiles_;
  // profiles_'s entry for default_profile_ (null if none): most callers
  // name no profile, and this spares them the map lookup.
  const CredentialProfile* default_ = nullptr;
};

}  // namespace tokenservice

#endif  // SERVER_BROKER_CREDENTIAL_STORE_H_
