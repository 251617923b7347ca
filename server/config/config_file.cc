#include "server/config/config_file.h"

#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/scopes.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

namespace tokenservice {
namespace {

using mypos::token::config::v1::Config;
using mypos::token::config::v1::SecretSource;

// Keeps the first parse error, with its position. Protobuf's message may
// quote the offending character: control characters are escaped so that
// the error stays on one line.
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (!error_.empty()) return;
    error_ = absl::StrCat("line ", line + 1, ":", column + 1, ": ");
    for (char c : message) {
      const bool control = (c >= 0 && c < 0x20) || c == 0x7f;
      if (control) {
        absl::StrAppend(&error_, absl::CEscape(absl::string_view(&c, 1)));
      } else {
        error_.push_back(c);
      }
    }
  }
  const std::string& error() const { return error_; }

 private:
  std::string error_;
};

// `s` in quotes, C-escaped, so that a message quoting text from the file
// stays on the one line start-up prints.
std::string Quote(absl::string_view s) {
  return absl::StrCat("\"", absl::CEscape(s), "\"");
}

absl::Status Invalid(absl::string_view where, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", problem));
}

// Resolves `source` into `value` (env, value) or `file` (kept as a path).
absl::Status Resolve(const SecretSource& source, const std::string& where,
                     bool allow_value,
                     const std::function<const char*(const char*)>& getenv,
                     std::string* value, std::string* file) {
  switch (source.source_case()) {
    case SecretSource::kValue:
      if (!allow_value) {
        return Invalid(where,
                       "a secret must come from a file or an "
                       "environment variable, not the config file");
      }
      if (source.value().empty()) return Invalid(where + ".value", "is empty");
      *value = source.value();
      return absl::OkStatus();
    case SecretSource::kEnv: {
      const char* v = getenv(source.env().c_str());
      if (v == nullptr || *v == '\0') {
        return Invalid(where + ".env", absl::StrCat(absl::CEscape(source.env()),
                                                    " is not set or empty"));
      }
      *value = v;
      return absl::OkStatus();
    }
    case SecretSource::kFile: {
      // Read as CredentialStore will read it on every request: empty is as
      // unusable as missing, so say so now, not at the first request.
      const std::optional<std::string> content = ReadTrimmedFile(source.file());
      if (!content.has_value() || content->empty()) {
        return Invalid(
            where + ".file",
            absl::StrCat(Quote(source.file()), " cannot be read or is empty"));
      }
      *file = source.file();
      return absl::OkStatus();
    }
    default:
      return Invalid(where, "is missing (set file, env or value)");
  }
}

absl::StatusOr<CallerRule> ResolveCaller(
    const mypos::token::config::v1::Caller& c, const std::string& where,
    const std::function<const char*(const char*)>& getenv) {
  CallerRule rule;
  rule.name = c.name();
  if (c.name().empty()) return Invalid(where + ".name", "is empty");
  if (auto s = ValidateCredentialName(where + ".name", c.name()); !s.ok()) {
    return s;
  }
  rule.peer_identities.assign(c.peer_identities().begin(),
                              c.peer_identities().end());
  if (c.has_key()) {
    std::string key, file;
    if (auto s = Resolve(c.key(), where + ".key", false, getenv, &key, &file);
        !s.ok()) {
      return s;
    }
    if (!file.empty()) key = ReadTrimmedFile(file).value_or("");
    if (key.empty()) return Invalid(where + ".key", "is empty");
    rule.key_digest = CallerPolicy::KeyDigest(key);
  }
  if (rule.peer_identities.empty() && rule.key_digest.empty()) {
    return Invalid(where, "needs peer_identities or a key to be identified");
  }
  // Without a profile (and without its own credentials) a caller could do
  // nothing at all: that is a mistake, not a policy.
  if (c.profiles_size() == 0 && !c.may_supply_credentials()) {
    return Invalid(where + ".profiles",
                   "is empty: list the profiles this caller may use, or \"*\"");
  }
  for (int j = 0; j < c.profiles_size(); ++j) {
    const std::string& profile = c.profiles(j);
    if (profile == "*") continue;
    if (auto s = ValidateCredentialName(
            absl::StrCat(where, ".profiles[", j, "]"), profile);
        !s.ok()) {
      return s;
    }
  }
  rule.profiles.assign(c.profiles().begin(), c.profiles().end());
  rule.may_revoke = c.may_revoke();
  rule.may_read_metadata = c.may_read_metadata();
  rule.may_supply_credentials = c.may_supply_credentials();
  return rule;
}

}  // namespace

absl::StatusOr<ConfigFileProfiles> ResolveConfig(
    const Config& config, const std::string& source,
    const std::function<const char*(const char*)>& getenv) {
  ConfigFileProfiles out;
  std::set<std::string> names;
  for (int i = 0; i < config.profiles_size(); ++i) {
    const auto& p = config.profiles(i);
    const std::string where = absl::StrCat(source, ": profiles[", i, "]");
    if (p.name().empty()) return Invalid(where + ".name", "is empty");
    if (auto s = ValidateCredentialName(where + ".name", p.name()); !s.ok()) {
      return s;
    }
    if (!names.insert(p.name()).second) {
      return Invalid(where + ".name",
                     absl::StrCat("\"", p.name(), "\" is defined twice"));
    }
    CredentialProfile profile;
    profile.name = p.name();
    if (auto s =
            Resolve(p.client_id(), where + ".client_id", true, getenv,
                    &profile.credentials.client_id, &profile.client_id_file);
        !s.ok()) {
      return s;
    }
    if (auto s = Resolve(p.client_secret(), where + ".client_secret", false,
                         getenv, &profile.credentials.client_secret,
                         &profile.client_secret_file);
        !s.ok()) {
      return s;
    }
    for (int j = 0; j < p.default_scopes_size(); ++j) {
      if (auto s =
              ValidateScope(absl::StrCat(where, ".default_scopes[", j, "]"),
                            p.default_scopes(j));
          !s.ok()) {
        return s;
      }
      profile.default_scopes.push_back(p.default_scopes(j));
    }
    out.profiles.push_back(std::move(profile));
  }
  std::set<std::string> callers;
  // Who each key and certificate identity already identifies: one of them
  // must never stand for two callers (the last would silently win).
  std::map<std::string, std::string> key_owners, identity_owners;
  for (int i = 0; i < config.callers_size(); ++i) {
    const std::string where = absl::StrCat(source, ": callers[", i, "]");
    absl::StatusOr<CallerRule> rule =
        ResolveCaller(config.callers(i), where, getenv);
    if (!rule.ok()) return rule.status();
    if (!callers.insert(rule->name).second) {
      return Invalid(where + ".name",
                     absl::StrCat("\"", rule->name, "\" is defined twice"));
    }
    if (!rule->key_digest.empty()) {
      auto [owner, added] = key_owners.emplace(rule->key_digest, rule->name);
      if (!added) {
        return Invalid(where + ".key",
                       absl::StrCat("is the same key as caller \"",
                                    owner->second, "\"'s"));
      }
    }
    for (size_t j = 0; j < rule->peer_identities.size(); ++j) {
      auto [owner, added] =
          identity_owners.emplace(rule->peer_identities[j], rule->name);
      if (!added) {
        return Invalid(
            absl::StrCat(where, ".peer_identities[", j, "]"),
            absl::StrCat("already identifies caller \"", owner->second, "\""));
      }
    }
    out.callers.push_back(*std::move(rule));
  }
  out.caller_credentials = config.caller_credentials().enabled();
  if (config.caller_credentials().max_cached_tokens() < 0) {
    return Invalid(source + ": caller_credentials.max_cached_tokens",
                   "must not be negative");
  }
  if (config.caller_credentials().max_cached_tokens() > 0) {
    out.max_caller_credential_tokens =
        config.caller_credentials().max_cached_tokens();
  }
  out.default_profile = config.default_profile();
  if (!out.default_profile.empty() && names.count(out.default_profile) == 0) {
    return Invalid(
        source + ": default_profile",
        absl::StrCat("no profile is named ", Quote(out.default_profile)));
  }
  return out;
}

absl::StatusOr<ConfigFileProfiles> LoadConfigFile(
    const std::string& path,
    const std::function<const char*(const char*)>& getenv) {
  std::ifstream in(path);
  if (!in)
    return Invalid("--config", absl::StrCat("cannot read \"", path, "\""));
  std::stringstream text;
  text << in.rdbuf();
  Config config;
  FirstError errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text.str(), &config)) {
    return Invalid(path, errors.error());
  }
  return ResolveConfig(config, path, getenv);
}

}  // namespace tokenservice
