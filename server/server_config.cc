#include "server/server_config.h"

#include <algorithm>

#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50051",
          "gRPC address to listen on, HOST:PORT.");
ABSL_FLAG(std::string, mypos_env, "production",
          "production or sandbox: which myPOS URLs --token_url and "
          "--revoke_url default to.");
ABSL_FLAG(std::string, token_url, "",
          "myPOS token endpoint; default from --mypos_env.");
ABSL_FLAG(std::string, revoke_url, "",
          "myPOS revocation endpoint; default from --mypos_env.");
ABSL_FLAG(std::string, ca_bundle_file, "",
          "PEM CA bundle to verify myPOS; default: the system's.");
ABSL_FLAG(std::string, default_profile, "default",
          "Name of the credential profile built from MYPOS_CLIENT_ID / "
          "MYPOS_CLIENT_SECRET or the --client_*_file flags.");
ABSL_FLAG(std::string, client_id_file, "",
          "File holding the default profile's client id (instead of the "
          "MYPOS_CLIENT_ID environment variable).");
ABSL_FLAG(std::string, client_secret_file, "",
          "File holding the default profile's client secret (instead of the "
          "MYPOS_CLIENT_SECRET environment variable).");
ABSL_FLAG(absl::Duration, default_min_validity, absl::Seconds(60),
          "Validity a token must have left when the caller does not say.");
ABSL_FLAG(absl::Duration, upstream_timeout, absl::Seconds(10),
          "Longest one fetch from myPOS may take, retries included, when the "
          "caller's deadline is later or unset.");
ABSL_FLAG(absl::Duration, upstream_attempt_timeout, absl::Seconds(5),
          "Longest one HTTP attempt to myPOS may take.");
ABSL_FLAG(absl::Duration, upstream_deadline_margin, absl::Milliseconds(50),
          "Upstream work ends this long before the caller's deadline.");
ABSL_FLAG(int, upstream_max_attempts, 4,
          "Attempts per request to myPOS, the first included (1: no retry).");
ABSL_FLAG(absl::Duration, upstream_initial_backoff, absl::Milliseconds(100),
          "Backoff cap before the first retry; full jitter below it.");
ABSL_FLAG(absl::Duration, upstream_max_backoff, absl::Seconds(2),
          "Largest backoff cap between retries.");
ABSL_FLAG(double, upstream_backoff_multiplier, 2.0,
          "Growth of the backoff cap from one retry to the next.");
ABSL_FLAG(absl::Duration, upstream_max_retry_after, absl::Seconds(10),
          "Longest Retry-After from myPOS that is honoured as given.");
ABSL_FLAG(absl::Duration, rejected_credentials_ttl, absl::Seconds(30),
          "How long credentials that myPOS rejected are answered "
          "FAILED_PRECONDITION without asking myPOS again; 0 turns it off.");
ABSL_FLAG(int, upstream_threads, 4, "Threads that talk to myPOS.");
ABSL_FLAG(int, max_queued_upstream, 1024,
          "Requests to myPOS that may wait for a thread before callers get "
          "RESOURCE_EXHAUSTED.");

namespace tokenservice {
namespace {

bool IsLoopbackHost(absl::string_view host) {
  if (host == "localhost" || host == "[::1]") return true;
  std::vector<absl::string_view> parts = absl::StrSplit(host, '.');
  if (parts.size() != 4 || parts[0] != "127") return false;
  return std::all_of(parts.begin(), parts.end(), [](absl::string_view p) {
    return !p.empty() && p.size() <= 3 &&
           std::all_of(p.begin(), p.end(), absl::ascii_isdigit);
  });
}

absl::StatusOr<std::string> SecretFrom(absl::string_view file_flag,
                                       const std::string& path,
                                       const char* env_name,
                                       const std::function<const char*(const char*)>& getenv) {
  if (!path.empty()) return ReadSecretFile(file_flag, path);
  const char* value = getenv(env_name);
  if (value == nullptr || *value == '\0') {
    return absl::InvalidArgumentError(absl::StrCat(
        env_name, " is not set and --", file_flag,
        " is not given: the default profile needs credentials"));
  }
  return std::string(value);
}

absl::Status RetryOptionsFromFlags(RetryingOAuthClient::Options* retry) {
  retry->max_attempts = absl::GetFlag(FLAGS_upstream_max_attempts);
  retry->initial_backoff = absl::GetFlag(FLAGS_upstream_initial_backoff);
  retry->max_backoff = absl::GetFlag(FLAGS_upstream_max_backoff);
  retry->backoff_multiplier = absl::GetFlag(FLAGS_upstream_backoff_multiplier);
  retry->max_retry_after = absl::GetFlag(FLAGS_upstream_max_retry_after);
  retry->rejected_credentials_ttl =
      absl::GetFlag(FLAGS_rejected_credentials_ttl);
  if (retry->max_attempts < 1 || retry->max_attempts > 10) {
    return absl::InvalidArgumentError(
        "--upstream_max_attempts must be between 1 and 10");
  }
  if (!(retry->backoff_multiplier >= 1.0 && retry->backoff_multiplier <= 10)) {
    return absl::InvalidArgumentError(
        "--upstream_backoff_multiplier must be between 1 and 10");
  }
  for (const auto& [flag, value] :
       {std::pair<const char*, absl::Duration>{"--upstream_initial_backoff",
                                               retry->initial_backoff},
        {"--upstream_max_backoff", retry->max_backoff},
        {"--upstream_max_retry_after", retry->max_retry_after},
        {"--rejected_credentials_ttl", retry->rejected_credentials_ttl}}) {
    if (value < absl::ZeroDuration() || value > absl::Hours(1)) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, " must be between 0 and 1h"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateUpstreamUrl(absl::string_view field,
                                 absl::string_view url) {
  absl::string_view rest = url;
  bool https = absl::ConsumePrefix(&rest, "https://");
  if (!https && !absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", url, "\" is not an https:// URL"));
  }
  absl::string_view authority = rest.substr(0, rest.find('/'));
  absl::string_view host = authority;
  if (!absl::StartsWith(host, "[")) host = host.substr(0, host.rfind(':'));
  else host = host.substr(0, host.find(']') + 1);
  if (host.empty() || absl::StrContains(authority, "@") ||
      std::any_of(url.begin(), url.end(),
                  [](char c) { return c <= 0x20 || c >= 0x7f; })) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", url, "\" is not a usable URL"));
  }
  if (!https && !IsLoopbackHost(host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": \"", url,
        "\" uses plain http, allowed only for a loopback host (the fake "
        "myPOS)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadSecretFile(absl::string_view field,
                                           const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", field, ": cannot read \"", path, "\""));
  }
  std::stringstream content;
  content << in.rdbuf();
  std::string value = content.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) {
    value.pop_back();
  }
  if (value.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", field, ": \"", path, "\" is empty"));
  }
  return value;
}

absl::StatusOr<ServerConfig> ConfigFromFlags(
    const std::function<const char*(const char*)>& getenv) {
  ServerConfig config;
  config.listen_address = absl::GetFlag(FLAGS_listen);
  const std::string env = absl::GetFlag(FLAGS_mypos_env);
  if (env != "production" && env != "sandbox") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--mypos_env: \"", env, "\" is neither production nor sandbox"));
  }
  const bool sandbox = env == "sandbox";
  config.token_url = absl::GetFlag(FLAGS_token_url);
  if (config.token_url.empty()) {
    config.token_url = sandbox ? kSandboxTokenUrl : kProductionTokenUrl;
  }
  config.revoke_url = absl::GetFlag(FLAGS_revoke_url);
  if (config.revoke_url.empty()) {
    config.revoke_url = sandbox ? kSandboxRevokeUrl : kProductionRevokeUrl;
  }
  if (auto s = ValidateUpstreamUrl("--token_url", config.token_url); !s.ok()) {
    return s;
  }
  if (auto s = ValidateUpstreamUrl("--revoke_url", config.revoke_url);
      !s.ok()) {
    return s;
  }
  config.ca_bundle_file = absl::GetFlag(FLAGS_ca_bundle_file);
  config.default_profile = absl::GetFlag(FLAGS_default_profile);
  absl::StatusOr<std::string> id =
      SecretFrom("client_id_file", absl::GetFlag(FLAGS_client_id_file),
                 "MYPOS_CLIENT_ID", getenv);
  if (!id.ok()) return id.status();
  absl::StatusOr<std::string> secret =
      SecretFrom("client_secret_file", absl::GetFlag(FLAGS_client_secret_file),
                 "MYPOS_CLIENT_SECRET", getenv);
  if (!secret.ok()) return secret.status();
  config.profiles.push_back(CredentialProfile{
      config.default_profile, ClientCredentials{*id, *std::move(secret)}});
  config.broker.default_min_validity =
      absl::GetFlag(FLAGS_default_min_validity);
  config.broker.upstream_timeout = absl::GetFlag(FLAGS_upstream_timeout);
  config.broker.deadline_margin =
      absl::GetFlag(FLAGS_upstream_deadline_margin);
  config.upstream_attempt_timeout =
      absl::GetFlag(FLAGS_upstream_attempt_timeout);
  if (auto s = RetryOptionsFromFlags(&config.retry); !s.ok()) return s;
  if (config.broker.upstream_timeout <= absl::ZeroDuration() ||
      config.upstream_attempt_timeout <= absl::ZeroDuration() ||
      config.broker.deadline_margin < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--upstream_timeout and --upstream_attempt_timeout must be positive, "
        "--upstream_deadline_margin not negative");
  }
  config.upstream_threads = absl::GetFlag(FLAGS_upstream_threads);
  config.max_queued_upstream = absl::GetFlag(FLAGS_max_queued_upstream);
  if (config.upstream_threads < 1 || config.max_queued_upstream < 1) {
    return absl::InvalidArgumentError(
        "--upstream_threads and --max_queued_upstream must be at least 1");
  }
  return config;
}

}  // namespace tokenservice
