// ServerConfig: everything TokenServer needs to start, and where it comes
// from. Flags and the environment configure the process; secrets come from
// files or the environment, never from flags.

#ifndef SERVER_CONFIG_SERVER_CONFIG_H_
#define SERVER_CONFIG_SERVER_CONFIG_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/broker/credential_store.h"
#include "server/broker/token_broker.h"
#include "server/config/fleet_config.h"
#include "server/rpc/caller_policy.h"
#include "server/rpc/grpc_limits.h"
#include "server/upstream/oauth_reply.h"
#include "server/upstream/retrying_oauth_client.h"

namespace tokenservice {

inline constexpr char kProductionTokenUrl[] =
    "https://auth-api.mypos.com/oauth/token";
inline constexpr char kProductionRevokeUrl[] =
    "https://auth-api.mypos.com/oauth/revoke";
inline constexpr char kSandboxTokenUrl[] =
    "https://sandbox-auth-api.mypos.com/oauth/token";
inline constexpr char kSandboxRevokeUrl[] =
    "https://sandbox-auth-api.mypos.com/oauth/revoke";

struct ServerConfig {
  std::string listen_address = "0.0.0.0:50051";
  // Plain-HTTP admin port (/metrics, /healthz); empty disables it.
  std::string admin_listen_address;
  std::string token_url = kProductionTokenUrl;
  std::string revoke_url = kProductionRevokeUrl;
  // PEM bundle that verifies myPOS; empty uses the system's.
  std::string ca_bundle_file;
  std::string default_profile = "default";
  std::vector<CredentialProfile> profiles;
  // Empty: every caller may use every profile.
  std::vector<CallerRule> callers;
  // Whether callers may send their own client credentials (the LRU bound is
  // broker.max_caller_credential_tokens).
  bool caller_credentials = false;
  // TLS on the gRPC port when both are set; the files are watched and
  // reloaded. With a client CA, client certificates are requested and
  // verified (mTLS), and identify callers to the policy.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  absl::Duration tls_reload_interval = absl::Seconds(60);
  // broker.upstream_timeout bounds a whole fetch (all attempts); the same
  // limits apply to user grants.
  BrokerOptions broker;
  // Retries, backoff and remembered credential rejections toward myPOS.
  RetryingOAuthClient::Options retry;
  // How myPOS's token replies are read (the longest lifetime accepted).
  TokenReplyOptions token_reply;
  // The longest one HTTP attempt to myPOS may take.
  absl::Duration upstream_attempt_timeout = absl::Seconds(5);
  // Limits on the gRPC port (server/rpc/grpc_limits.h).
  GrpcLimits grpc;
  // Requests to one myPOS host under way at once (the rest wait in the
  // transport's queue; a quarter is kept for refreshes and revocations).
  int max_upstream_connections = 64;
  // Fleet mode (--etcd_endpoints); off by default.
  FleetConfig fleet;
  // (broker.max_caller_fetches also bounds grant exchanges under way.)
};

// OK when `url` is https://HOST[:PORT]/..., or http:// to a loopback host
// (127.0.0.0/8, [::1], localhost: the fake myPOS); otherwise
// kInvalidArgument naming `field`.
absl::Status ValidateUpstreamUrl(absl::string_view field,
                                 absl::string_view url);

// Reads a secret file: the whole content without trailing CR/LF. The error
// names `field` and the path, never the content.
absl::StatusOr<std::string> ReadSecretFile(absl::string_view field,
                                           const std::string& path);

// Builds the configuration from the command-line flags
// and `getenv`. The error names the flag or variable at fault.
absl::StatusOr<ServerConfig> ConfigFromFlags(
    const std::function<const char*(const char*)>& getenv);

}  // namespace tokenservice

#endif  // SERVER_CONFIG_SERVER_CONFIG_H_
