// The configuration file (proto/config.proto, text format): credential
// profiles. Loading checks everything a running server would trip over
// later, so that a bad file stops start-up with one line naming the field.

#ifndef SERVER_CONFIG_CONFIG_FILE_H_
#define SERVER_CONFIG_CONFIG_FILE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/config.pb.h"
#include "server/broker/credential_store.h"
#include "server/rpc/caller_policy.h"

namespace tokenservice {

struct ConfigFileProfiles {
  std::string default_profile;  // empty when the file names none
  std::vector<CredentialProfile> profiles;
  std::vector<CallerRule> callers;
  bool caller_credentials = false;
  size_t max_caller_credential_tokens = 10000;
};

// Parses `path` and resolves its profiles: environment variables through
// `getenv`, files checked readable (and read again on every use later).
// kInvalidArgument whose message names the file and the field.
absl::StatusOr<ConfigFileProfiles> LoadConfigFile(
    const std::string& path,
    const std::function<const char*(const char*)>& getenv);

// As LoadConfigFile, for a parsed config; `source` names it in errors.
absl::StatusOr<ConfigFileProfiles> ResolveConfig(
    const mypos::token::config::v1::Config& config, const std::string& source,
    const std::function<const char*(const char*)>& getenv);

}  // namespace tokenservice

#endif  // SERVER_CONFIG_CONFIG_FILE_H_
