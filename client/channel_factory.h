// Channels to TokenService: plaintext or TLS/mTLS, with a gRPC service
// config that retries UNAVAILABLE and CANCELLED (what gRPC's server answers
// a call that crossed its GOAWAY) on the read-only and idempotent methods.
//
//   ChannelOptions options;
//   options.target = "tokenservice.internal:50051";
//   options.tls = true;
//   options.ca_file = "/etc/tokenservice/ca.pem";
//   absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
//       CreateTokenServiceChannel(options);

#ifndef CLIENT_CHANNEL_FACTORY_H_
#define CLIENT_CHANNEL_FACTORY_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tokenservice {

struct ChannelOptions {
  // gRPC target, e.g. "HOST:PORT" or "dns:///name:port".
  std::string target;

  // TLS toward the server. `ca_file` (PEM) verifies it; empty uses gRPC's
  // default roots. `cert_file` and `key_file` (PEM), given together, are the
  // client certificate for mTLS. Setting any file without `tls` is an error.
  bool tls = false;
  std::string ca_file;
  std::string cert_file;
  std::string key_file;

  // Attempts per call (the first one included) for UNAVAILABLE and
  // CANCELLED on Issue, GetTokenInfo, ListTokens and health checks; 1
  // disables retries. gRPC caps it at 5. Revoke is never retried: its
  // UNAVAILABLE means myPOS did not accept the revocation after the token left
  // the cache, and a retry by fingerprint would then answer NOT_FOUND.
  int max_attempts = 3;
};

// The service config JSON that `CreateTokenServiceChannel` installs.
std::string RetryServiceConfigJson(int max_attempts);

// A channel as `options` describes. Connects lazily: a server that is down
// shows up as UNAVAILABLE on the first call, not here.
//
// Errors: kInvalidArgument for an empty target, a certificate without its
// key (or the reverse), files without `tls`, or max_attempts < 1;
// kFailedPrecondition when a PEM file cannot be read (the message names the
// file, never its content).
absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateTokenServiceChannel(
    const ChannelOptions& options);

// Reads a whole file. kFailedPrecondition naming `what` and the path when it
// cannot be read.
absl::StatusOr<std::string> ReadWholeFile(absl::string_view what,
                                          const std::string& path);

}  // namespace tokenservice

#endif  // CLIENT_CHANNEL_FACTORY_H_
