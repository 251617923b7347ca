#include "client/connection_config.h"

#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/call_context.h"

namespace tokenservice {
namespace {

std::string FlagOrEnv(const std::string& flag, const EnvLookup& env,
                      const char* name, std::string fallback = "") {
  if (!flag.empty()) return flag;
  std::optional<std::string> value = env(name);
  return value.has_value() ? *std::move(value) : std::move(fallback);
}

absl::StatusOr<bool> TlsFromEnv(const EnvLookup& env) {
  std::optional<std::string> value = env("TOKENSERVICE_TLS");
  if (!value.has_value()) return false;
  const std::string v = absl::AsciiStrToLower(*value);
  if (v == "1" || v == "true" || v == "yes") return true;
  if (v == "0" || v == "false" || v == "no") return false;
  return absl::InvalidArgumentError(
      "TOKENSERVICE_TLS must be 1, true, yes, 0, false or no");
}

// The key from a file named by `source`, without its trailing newline.
absl::StatusOr<std::string> KeyFromFile(absl::string_view source,
                                        const std::string& path) {
  absl::StatusOr<std::string> key =
      ReadWholeFile(absl::StrCat("caller key file (", source, ")"), path);
  if (!key.ok()) return key.status();
  if (absl::EndsWith(*key, "\n")) key->pop_back();
  if (absl::EndsWith(*key, "\r")) key->pop_back();
  return key;
}

absl::StatusOr<std::string> CallerKey(const ConnectionFlags& flags,
                                      const EnvLookup& env) {
  std::string source;
  absl::StatusOr<std::string> key = std::string();
  if (!flags.caller_key_file.empty()) {
    source = "--caller_key_file";
    key = KeyFromFile(source, flags.caller_key_file);
  } else if (auto file = env("TOKENSERVICE_CALLER_KEY_FILE")) {
    source = "TOKENSERVICE_CALLER_KEY_FILE";
    key = KeyFromFile(source, *file);
  } else if (auto value = env("TOKENSERVICE_CALLER_KEY")) {
    source = "TOKENSERVICE_CALLER_KEY";
    key = *std::move(value);
  } else {
    return std::string();
  }
  if (!key.ok()) return key.status();
  if (absl::Status s = ValidateCallerKey(source, *key); !s.ok()) return s;
  return key;
}

}  // namespace

EnvLookup ProcessEnvironment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
  };
}

absl::StatusOr<Connection> ResolveConnection(const ConnectionFlags& flags,
                                             const EnvLookup& env) {
  Connection connection;
  ChannelOptions& channel = connection.channel;
  channel.target =
      FlagOrEnv(flags.target, env, "TOKENSERVICE_TARGET", kDefaultTarget);
  channel.ca_file = FlagOrEnv(flags.ca_file, env, "TOKENSERVICE_CA_FILE");
  channel.cert_file = FlagOrEnv(flags.cert_file, env, "TOKENSERVICE_CERT_FILE");
  channel.key_file = FlagOrEnv(flags.key_file, env, "TOKENSERVICE_KEY_FILE");
  absl::StatusOr<bool> tls_env = TlsFromEnv(env);
  if (!tls_env.ok()) return tls_env.status();
  channel.tls = flags.tls || *tls_env || !channel.ca_file.empty() ||
                !channel.cert_file.empty() || !channel.key_file.empty();
  if (channel.cert_file.empty() != channel.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--cert_file (TOKENSERVICE_CERT_FILE) and --key_file "
        "(TOKENSERVICE_KEY_FILE) go together");
  }
  absl::StatusOr<std::string> key = CallerKey(flags, env);
  if (!key.ok()) return key.status();
  connection.caller_key = *std::move(key);
  return connection;
}

}  // namespace tokenservice
