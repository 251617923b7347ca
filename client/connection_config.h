// How tokenctl and the examples find TokenService: flags first, then
// environment variables, then defaults.
//
//   what          flag               environment
//   target        --target           TOKENSERVICE_TARGET (else localhost:50051)
//   TLS on        --tls              TOKENSERVICE_TLS=1|true|yes
//   CA (PEM)      --ca_file          TOKENSERVICE_CA_FILE
//   client cert   --cert_file        TOKENSERVICE_CERT_FILE
//   client key    --key_file         TOKENSERVICE_KEY_FILE
//   caller key    --caller_key_file  TOKENSERVICE_CALLER_KEY_FILE, or the
//                                    key itself in TOKENSERVICE_CALLER_KEY
//
// Any CA, certificate or key file turns TLS on. The caller key is never
// taken from a flag's value (it would show in `ps`); a file's trailing
// newline is dropped.

#ifndef CLIENT_CONNECTION_CONFIG_H_
#define CLIENT_CONNECTION_CONFIG_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/channel_factory.h"

namespace tokenservice {

inline constexpr char kDefaultTarget[] = "localhost:50051";

// Flag values as given; empty / false means "not given".
struct ConnectionFlags {
  std::string target;
  bool tls = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string caller_key_file;
};

struct Connection {
  ChannelOptions channel;
  std::string caller_key;  // empty: none
};

// Looks up an environment variable; nullopt when unset or empty.
using EnvLookup = std::function<std::optional<std::string>(const char*)>;

// The process environment.
EnvLookup ProcessEnvironment();

// Flags over environment over defaults, as the table above says.
//
// Errors: kInvalidArgument for a malformed TOKENSERVICE_TLS, a certificate
// without its key or the reverse, or a caller key that cannot travel as
// gRPC metadata; kFailedPrecondition for an unreadable caller key file.
// Messages name the flag or variable, never the key.
absl::StatusOr<Connection> ResolveConnection(const ConnectionFlags& flags,
                                             const EnvLookup& env);

}  // namespace tokenservice

#endif  // CLIENT_CONNECTION_CONFIG_H_
