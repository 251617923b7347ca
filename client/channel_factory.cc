#include "client/channel_factory.h"

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/substitute.h"

namespace tokenservice {

std::string RetryServiceConfigJson(int max_attempts) {
  // Backoff 0.1s, 0.2s, 0.4s ... up to 2s, randomized by gRPC, or what
  // the server's grpc-retry-pushback-ms says. Retries stop while failures
  // outnumber successes (retryThrottling: each failed attempt takes a
  // token, each success gives back 0.1; no retry at 50 tokens or fewer).
  // 100 tokens, so that a burst of calls failing at once (every call in
  // flight on a replica that shuts down) is still retried: with 10, a
  // rolling update failed the sixth call that crossed a GOAWAY.
  return absl::Substitute(
      R"json({"methodConfig":[{"name":[)json"
      R"json({"service":"mypos.token.v1.TokenService","method":"Issue"},)json"
      R"json({"service":"mypos.token.v1.TokenService","method":"GetTokenInfo"},)json"
      R"json({"service":"mypos.token.v1.TokenService","method":"ListTokens"},)json"
      R"json({"service":"grpc.health.v1.Health","method":"Check"}],)json"
      R"json("retryPolicy":{"maxAttempts":$0,"initialBackoff":"0.1s",)json"
      R"json("maxBackoff":"2s","backoffMultiplier":2,)json"
      R"json("retryableStatusCodes":["UNAVAILABLE","CANCELLED"]}}],)json"
      R"json("retryThrottling":{"maxTokens":100,"tokenRatio":0.1}})json",
      max_attempts);
}

absl::StatusOr<std::string> ReadWholeFile(absl::string_view what,
                                          const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open ", what, " ", path));
  }
  std::stringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", what, " ", path));
  }
  return content.str();
}

namespace {

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials(
    const ChannelOptions& options) {
  const bool any_file = !options.ca_file.empty() ||
                        !options.cert_file.empty() || !options.key_file.empty();
  if (!options.tls) {
    if (any_file) {
      return absl::InvalidArgumentError(
          "CA, certificate or key file given without TLS");
    }
    return grpc::InsecureChannelCredentials();
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate needs its key, and a key its certificate");
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadWholeFile("CA file", options.ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  if (!options.cert_file.empty()) {
    absl::StatusOr<std::string> cert =
        ReadWholeFile("certificate file", options.cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key =
        ReadWholeFile("key file", options.key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateTokenServiceChannel(
    const ChannelOptions& options) {
  if (options.target.empty()) {
    return absl::InvalidArgumentError("the TokenService target is empty");
  }
  if (options.max_attempts < 1) {
    return absl::InvalidArgumentError("max_attempts must be at least 1");
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      Credentials(options);
  if (!credentials.ok()) return credentials.status();
  grpc::ChannelArguments args;
  // gRPC rejects a retry policy with maxAttempts 1, so none is installed.
  if (options.max_attempts > 1) {
    args.SetServiceConfigJSON(RetryServiceConfigJson(options.max_attempts));
  }
  // Pings while a call is open (TokenClient's revocation stream, which is
  // silent between revocations), so that a peer gone without a reset (a
  // lost node, a partition) ends the stream within 30 s rather than never.
  // The server accepts a ping every 10 s while a call is open.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  return grpc::CreateCustomChannel(options.target, *credentials, args);
}

}  // namespace tokenservice
