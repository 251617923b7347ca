// mypos_ping: an example internal service's request loop. It calls a
// myPOS-protected endpoint (the fake myPOS's GET /api/ping by default)
// --requests times with tokens from TokenService, reporting a rejected
// token and retrying once on 401 (see mypos_api_client.h).
//
//   mypos_ping --target=127.0.0.1:50051 --api_url=http://127.0.0.1:8081
//
// Connection flags and TOKENSERVICE_* variables as tokenctl's. Prints one
// line per request with the token's fingerprint, never the token. Exits 0
// when every request got a 2xx, else 1.

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "client/connection_config.h"
#include "client/token_client.h"
#include "examples/mypos_api_client.h"

ABSL_FLAG(std::string, target, "", "TokenService address.");
ABSL_FLAG(bool, tls, false, "Use TLS toward TokenService.");
ABSL_FLAG(std::string, ca_file, "", "PEM CAs that verify TokenService.");
ABSL_FLAG(std::string, cert_file, "", "PEM client certificate (mTLS).");
ABSL_FLAG(std::string, key_file, "", "PEM client key (mTLS).");
ABSL_FLAG(std::string, caller_key_file, "", "File holding the caller key.");
ABSL_FLAG(std::string, api_url, "http://127.0.0.1:8081",
          "Base URL of the myPOS API.");
ABSL_FLAG(std::string, path, "/api/ping", "Path to GET.");
ABSL_FLAG(int, requests, 3, "How many requests to make.");
ABSL_FLAG(std::string, credential, "", "Credential profile; empty: default.");
ABSL_FLAG(std::vector<std::string>, scopes, {}, "Comma-separated scopes.");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using namespace tokenservice;  // NOLINT: a short example
  ConnectionFlags flags;
  flags.target = absl::GetFlag(FLAGS_target);
  flags.tls = absl::GetFlag(FLAGS_tls);
  flags.ca_file = absl::GetFlag(FLAGS_ca_file);
  flags.cert_file = absl::GetFlag(FLAGS_cert_file);
  flags.key_file = absl::GetFlag(FLAGS_key_file);
  flags.caller_key_file = absl::GetFlag(FLAGS_caller_key_file);
  absl::StatusOr<Connection> connection =
      ResolveConnection(flags, ProcessEnvironment());
  if (!connection.ok()) {
    std::fprintf(stderr, "mypos_ping: %s\n",
                 connection.status().ToString().c_str());
    return 1;
  }
  TokenClient::Options options;
  options.caller_key = connection->caller_key;
  auto tokens = TokenClient::Create(connection->channel, options);
  if (!tokens.ok()) {
    std::fprintf(stderr, "mypos_ping: %s\n",
                 tokens.status().ToString().c_str());
    return 1;
  }
  MyposApiClient api(
      tokens->get(),
      TokenKey(absl::GetFlag(FLAGS_credential), absl::GetFlag(FLAGS_scopes)),
      absl::GetFlag(FLAGS_api_url));
  int failures = 0;
  for (int i = 0; i < absl::GetFlag(FLAGS_requests); ++i) {
    auto response = api.Get(absl::GetFlag(FLAGS_path));
    if (!response.ok()) {
      std::printf("GET %s -> error %s\n", absl::GetFlag(FLAGS_path).c_str(),
                  response.status().ToString().c_str());
      ++failures;
      continue;
    }
    std::printf("GET %s -> %d %s\n", absl::GetFlag(FLAGS_path).c_str(),
                response->status, response->body.c_str());
    if (response->status / 100 != 2) ++failures;
  }
  std::printf("tokens reported as rejected: %d\n", api.rejections_reported());
  return failures == 0 ? 0 : 1;
}
