#include "server/config/server_config.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "server/config/config_file.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:50051",
          "gRPC address to listen on, HOST:PORT.");
ABSL_FLAG(std::string, admin_listen, "",
          "Plain-HTTP admin address for /metrics and /healthz, HOST:PORT; "
          "empty (the default) disables it. Kubernetes: 0.0.0.0:9090.");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain for TLS on the gRPC port (with "
          "--tls_key_file); reloaded when the file changes.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key for TLS.");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle that verifies client certificates (mTLS); callers "
          "may then be identified by their certificate.");
ABSL_FLAG(absl::Duration, tls_reload_interval, absl::Seconds(60),
          "How often the TLS files are checked for changes.");
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
ABSL_FLAG(std::string, config, "",
          "Configuration file (proto/config.proto, text format) with "
          "credential profiles.");
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
ABSL_FLAG(double, refresh_window, 0.25,
          "Share of a token's lifetime left when a background refresh "
          "starts (0 < x <= 0.5; see README, Caching and refresh).");
ABSL_FLAG(absl::Duration, refresh_retry_max, absl::Seconds(60),
          "Longest wait between failed background refreshes (they back off "
          "from 1s).");
ABSL_FLAG(int, max_upstream_connections, 64,
          "Requests to one myPOS host under way at once (over HTTP/1.1, "
          "connections); more wait in a queue. A quarter is kept for "
          "background refreshes and revocations.");
ABSL_FLAG(absl::Duration, min_refresh_interval, absl::Seconds(10),
          "A caller's min_validity makes the server fetch a token early at "
          "most once per profile and scope set per this interval.");
ABSL_FLAG(int, max_cached_tokens, 10000,
          "Most tokens the cache holds (one per profile and scope set): past "
          "it, expired ones go first, then the least recently used.");
ABSL_FLAG(int, max_concurrent_streams, 100,
          "Calls one client connection may have open at once (HTTP/2 "
          "SETTINGS_MAX_CONCURRENT_STREAMS).");
ABSL_FLAG(int, grpc_memory_limit_mb, 64,
          "Memory gRPC may use for all connections and calls "
          "(grpc::ResourceQuota), in MiB.");
ABSL_FLAG(int, grpc_max_threads, 32,
          "Threads gRPC may start for its synchronous services (server "
          "reflection); TokenService's own calls use gRPC's callback "
          "threads.");
ABSL_FLAG(absl::Duration, max_connection_idle, absl::Minutes(5),
          "A client connection with no call for this long is closed "
          "(GOAWAY); inf: never.");
ABSL_FLAG(absl::Duration, max_connection_age, absl::Minutes(30),
          "A client connection older than this is asked to reconnect "
          "(GOAWAY), so that clients rebalance after a scale-out; inf: "
          "never. With both at inf, gRPC leaves out the filter that costs "
          "every call (docs/operations.md).");
ABSL_FLAG(absl::Duration, max_connection_age_grace, absl::Seconds(30),
          "How long calls may go on after --max_connection_age's GOAWAY.");
ABSL_FLAG(absl::Duration, max_token_lifetime, absl::Hours(24),
          "A token myPOS says lives longer (expires_in) is refused as an "
          "unusable reply: it would never be refreshed.");
ABSL_FLAG(int, max_queued_upstream, 1024,
          "Token fetches for cache misses (and, separately, grant exchanges) "
          "that may wait for myPOS at once before callers get "
          "RESOURCE_EXHAUSTED; refreshes and revocations are never refused.");

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

absl::StatusOr<std::string> SecretFrom(
    absl::string_view file_flag, const std::string& path, const char* env_name,
    const std::function<const char*(const char*)>& getenv) {
  if (!path.empty()) return ReadSecretFile(file_flag, path);
  const char* value = getenv(env_name);
  if (value == nullptr || *value == '\0') {
    return absl::InvalidArgumentError(
        absl::StrCat(env_name, " is not set and --", file_flag,
                     " is not given: the default profile needs credentials"));
  }
  return std::string(value);
}

// The profiles: those of --config, plus the one that MYPOS_CLIENT_ID /
// MYPOS_CLIENT_SECRET or --client_*_file define (required without
// --config), named --default_profile.
absl::Status AddProfiles(const std::function<const char*(const char*)>& getenv,
                         ServerConfig* config) {
  config->default_profile = absl::GetFlag(FLAGS_default_profile);
  if (auto s =
          ValidateCredentialName("--default_profile", config->default_profile);
      !s.ok()) {
    return s;
  }
  const std::string config_path = absl::GetFlag(FLAGS_config);
  if (!config_path.empty()) {
    absl::StatusOr<ConfigFileProfiles> file =
        LoadConfigFile(config_path, getenv);
    if (!file.ok()) return file.status();
    config->profiles = std::move(file->profiles);
    config->callers = std::move(file->callers);
    config->caller_credentials = file->caller_credentials;
    config->broker.max_caller_credential_tokens =
        file->max_caller_credential_tokens;
    if (!file->default_profile.empty()) {
      config->default_profile = file->default_profile;
    }
  }
  const std::string id_file = absl::GetFlag(FLAGS_client_id_file);
  const std::string secret_file = absl::GetFlag(FLAGS_client_secret_file);
  const bool flags_profile = !id_file.empty() || !secret_file.empty() ||
                             getenv("MYPOS_CLIENT_ID") != nullptr ||
                             getenv("MYPOS_CLIENT_SECRET") != nullptr;
  if (flags_profile || config_path.empty()) {
    CredentialProfile profile;
    profile.name = absl::GetFlag(FLAGS_default_profile);
    absl::StatusOr<std::string> id =
        SecretFrom("client_id_file", id_file, "MYPOS_CLIENT_ID", getenv);
    if (!id.ok()) return id.status();
    absl::StatusOr<std::string> secret = SecretFrom(
        "client_secret_file", secret_file, "MYPOS_CLIENT_SECRET", getenv);
    if (!secret.ok()) return secret.status();
    // Files are read again on every use (rotation); the check above only
    // makes a broken one stop start-up.
    profile.client_id_file = id_file;
    profile.client_secret_file = secret_file;
    if (id_file.empty()) profile.credentials.client_id = *std::move(id);
    if (secret_file.empty()) {
      profile.credentials.client_secret = *std::move(secret);
    }
    for (const CredentialProfile& other : config->profiles) {
      if (other.name == profile.name) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--default_profile: \"", profile.name,
            "\" is defined both by --config and by MYPOS_CLIENT_* / "
            "--client_*_file"));
      }
    }
    config->profiles.push_back(std::move(profile));
  }
  std::set<std::string> names;
  for (const CredentialProfile& profile : config->profiles) {
    names.insert(profile.name);
  }
  if (names.count(config->default_profile) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "default profile \"", config->default_profile,
        "\" is not defined (by --config or MYPOS_CLIENT_* / --client_*_file)"));
  }
  // A caller naming a profile that does not exist is a typo ("paymnets")
  // that would otherwise only show as PERMISSION_DENIED at run time.
  for (size_t i = 0; i < config->callers.size(); ++i) {
    const std::vector<std::string>& profiles = config->callers[i].profiles;
    for (size_t j = 0; j < profiles.size(); ++j) {
      if (profiles[j] == "*" || names.count(profiles[j]) > 0) continue;
      return absl::InvalidArgumentError(
          absl::StrCat(config_path, ": callers[", i, "].profiles[", j,
                       "]: no profile is named \"", profiles[j], "\""));
    }
  }
  return absl::OkStatus();
}

absl::Status TlsFromFlags(ServerConfig* config) {
  config->tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  config->tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  config->tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  config->tls_reload_interval = absl::GetFlag(FLAGS_tls_reload_interval);
  if (config->tls_cert_file.empty() != config->tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file go together");
  }
  if (!config->tls_client_ca_file.empty() && config->tls_cert_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_client_ca_file needs --tls_cert_file and --tls_key_file");
  }
  for (const auto& [flag, path] :
       {std::pair<const char*, std::string>{"tls_cert_file",
                                            config->tls_cert_file},
        {"tls_key_file", config->tls_key_file},
        {"tls_client_ca_file", config->tls_client_ca_file}}) {
    if (path.empty()) continue;
    if (auto s = ReadSecretFile(flag, path); !s.ok()) return s.status();
  }
  if (config->tls_reload_interval < absl::Seconds(1)) {
    return absl::InvalidArgumentError("--tls_reload_interval must be >= 1s");
  }
  return absl::OkStatus();
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

namespace {

// `url` for an error message, with any user information (user:password@)
// replaced: an operator who put credentials in a URL must not find them in
// the log.
std::string Shown(absl::string_view url) {
  const size_t scheme = url.find("://");
  const size_t begin = scheme == absl::string_view::npos ? 0 : scheme + 3;
  const size_t end = std::min(url.find('/', begin), url.size());
  const size_t at = url.substr(0, end).rfind('@');
  if (at == absl::string_view::npos || at < begin) return std::string(url);
  return absl::StrCat(url.substr(0, begin), "<redacted>", url.substr(at));
}

}  // namespace

absl::Status ValidateUpstreamUrl(absl::string_view field,
                                 absl::string_view url) {
  absl::string_view rest = url;
  bool https = absl::ConsumePrefix(&rest, "https://");
  if (!https && !absl::ConsumePrefix(&rest, "http://")) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", Shown(url), "\" is not an https:// URL"));
  }
  absl::string_view authority = rest.substr(0, rest.find('/'));
  absl::string_view host = authority;
  if (!absl::StartsWith(host, "["))
    host = host.substr(0, host.rfind(':'));
  else
    host = host.substr(0, host.find(']') + 1);
  if (absl::StrContains(authority, "@")) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": \"", Shown(url),
        "\" holds user information; credentials go in the secret files, "
        "never in a URL"));
  }
  if (host.empty() || std::any_of(url.begin(), url.end(), [](char c) {
        return c <= 0x20 || c >= 0x7f;
      })) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": \"", Shown(url), "\" is not a usable URL"));
  }
  if (!https && !IsLoopbackHost(host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": \"", Shown(url),
        "\" uses plain http, allowed only for a loopback host (the fake "
        "myPOS)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadSecretFile(absl::string_view field,
                                           const std::string& path) {
  std::optional<std::string> value = ReadTrimmedFile(path);
  if (!value.has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", field, ": cannot read \"", path, "\""));
  }
  if (value->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", field, ": \"", path, "\" is empty"));
  }
  return *std::move(value);
}

absl::StatusOr<ServerConfig> ConfigFromFlags(
    const std::function<const char*(const char*)>& getenv) {
  ServerConfig config;
  config.listen_address = absl::GetFlag(FLAGS_listen);
  config.admin_listen_address = absl::GetFlag(FLAGS_admin_listen);
  if (auto s = TlsFromFlags(&config); !s.ok()) return s;
  absl::StatusOr<FleetConfig> fleet = FleetConfigFromFlags();
  if (!fleet.ok()) return fleet.status();
  config.fleet = *std::move(fleet);
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
  if (auto s = AddProfiles(getenv, &config); !s.ok()) return s;
  config.broker.default_min_validity =
      absl::GetFlag(FLAGS_default_min_validity);
  config.broker.upstream_timeout = absl::GetFlag(FLAGS_upstream_timeout);
  config.broker.refresh_window = absl::GetFlag(FLAGS_refresh_window);
  if (!(config.broker.refresh_window > 0 &&
        config.broker.refresh_window <= 0.5)) {
    return absl::InvalidArgumentError(
        "--refresh_window must be greater than 0 and at most 0.5");
  }
  config.broker.refresh_retry_max = absl::GetFlag(FLAGS_refresh_retry_max);
  if (config.broker.refresh_retry_max < config.broker.refresh_retry_initial) {
    return absl::InvalidArgumentError(
        "--refresh_retry_max must be at least 1s");
  }
  config.broker.deadline_margin = absl::GetFlag(FLAGS_upstream_deadline_margin);
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
  config.broker.min_refresh_interval =
      absl::GetFlag(FLAGS_min_refresh_interval);
  if (config.broker.min_refresh_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--min_refresh_interval must not be negative");
  }
  if (absl::GetFlag(FLAGS_max_cached_tokens) < 1) {
    return absl::InvalidArgumentError("--max_cached_tokens must be at least 1");
  }
  config.broker.max_cached_tokens =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_cached_tokens));
  config.grpc.max_concurrent_streams =
      absl::GetFlag(FLAGS_max_concurrent_streams);
  config.grpc.memory_bytes =
      static_cast<size_t>(absl::GetFlag(FLAGS_grpc_memory_limit_mb)) << 20;
  config.grpc.max_threads = absl::GetFlag(FLAGS_grpc_max_threads);
  if (config.grpc.max_threads < 4) {
    return absl::InvalidArgumentError("--grpc_max_threads must be at least 4");
  }
  config.grpc.max_connection_idle = absl::GetFlag(FLAGS_max_connection_idle);
  config.grpc.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  config.grpc.max_connection_age_grace =
      absl::GetFlag(FLAGS_max_connection_age_grace);
  if (config.grpc.max_concurrent_streams < 1 ||
      absl::GetFlag(FLAGS_grpc_memory_limit_mb) < 16 ||
      config.grpc.max_connection_idle < absl::Seconds(1) ||
      config.grpc.max_connection_age < absl::Seconds(1) ||
      config.grpc.max_connection_age_grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--max_concurrent_streams must be at least 1, --grpc_memory_limit_mb "
        "at least 16, --max_connection_idle and --max_connection_age at least "
        "1s, --max_connection_age_grace not negative");
  }
  config.token_reply.max_expires_in = absl::GetFlag(FLAGS_max_token_lifetime);
  config.broker.max_token_lifetime = config.token_reply.max_expires_in;
  if (config.token_reply.max_expires_in < absl::Seconds(1)) {
    return absl::InvalidArgumentError(
        "--max_token_lifetime must be at least 1s");
  }
  config.max_upstream_connections =
      absl::GetFlag(FLAGS_max_upstream_connections);
  const int max_queued = absl::GetFlag(FLAGS_max_queued_upstream);
  config.broker.max_caller_fetches =
      static_cast<size_t>(std::max(max_queued, 0));
  if (config.max_upstream_connections < 1 || max_queued < 1) {
    return absl::InvalidArgumentError(
        "--max_upstream_connections and --max_queued_upstream must be at "
        "least 1");
  }
  return config;
}

}  // namespace tokenservice
