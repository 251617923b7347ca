#include "server/broker/credential_store.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "base/scopes.h"
#include "server/ops/error_reason.h"

namespace tokenservice {
namespace {

absl::StatusOr<std::string> ReadTrimmed(const CredentialProfile& profile,
                                        absl::string_view what,
                                        const std::string& path) {
  std::optional<std::string> value = ReadTrimmedFile(path);
  if (!value.has_value() || value->empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("profile \"", profile.name, "\": the ", what, " file \"",
                     path, "\" cannot be read or is empty"));
  }
  return *std::move(value);
}

}  // namespace

absl::Status ValidateCredentialName(absl::string_view field,
                                    absl::string_view name) {
  auto invalid = [field](absl::string_view problem) {
    return WithErrorMetadata(WithReason(absl::InvalidArgumentError(
                                            absl::StrCat(field, " ", problem)),
                                        kReasonInvalidRequest),
                             "field", field);
  };
  if (name.size() > kMaxCredentialLength) {
    return invalid(
        absl::StrCat("is longer than ", kMaxCredentialLength, " characters"));
  }
  const bool ok = std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.';
  });
  return ok ? absl::OkStatus()
            : invalid("may contain only letters, digits, '-', '_', '.'");
}

std::optional<std::string> ReadTrimmedFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  // Through rdbuf(): an istreambuf_iterator would throw for a directory
  // (EISDIR); this reads it as empty.
  std::stringstream content;
  content << in.rdbuf();
  std::string value = content.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) {
    value.pop_back();
  }
  return value;
}

CredentialStore::CredentialStore(std::string default_profile,
                                 std::vector<CredentialProfile> profiles)
    : default_profile_(std::move(default_profile)) {
  for (CredentialProfile& profile : profiles) {
    std::string name = profile.name;
    // Normalised once here rather than on every Issue that names no scopes.
    profile.default_scopes = NormalizeScopes(std::move(profile.default_scopes));
    profiles_.emplace(std::move(name), std::move(profile));
  }
  if (auto it = profiles_.find(default_profile_); it != profiles_.end()) {
    default_ = &it->second;
  }
}

absl::StatusOr<const CredentialProfile*> CredentialStore::Find(
    absl::string_view name) const {
  if (name.empty()) {
    if (default_ != nullptr) return default_;
    name = default_profile_;
  }
  auto it = profiles_.find(name);
  if (it == profiles_.end()) {
    return WithReason(absl::NotFoundError(absl::StrCat(
                          "no credential profile named \"", name, "\"")),
                      kReasonProfileNotFound);
  }
  return &it->second;
}

absl::StatusOr<ClientCredentials> CredentialStore::Load(
    const CredentialProfile& profile) {
  ClientCredentials credentials = profile.credentials;
  if (!profile.client_id_file.empty()) {
    absl::StatusOr<std::string> id =
        ReadTrimmed(profile, "client id", profile.client_id_file);
    if (!id.ok()) return id.status();
    credentials.client_id = *std::move(id);
  }
  if (!profile.client_secret_file.empty()) {
    absl::StatusOr<std::string> secret =
        ReadTrimmed(profile, "client secret", profile.client_secret_file);
    if (!secret.ok()) return secret.status();
    credentials.client_secret = *std::move(secret);
  }
  return credentials;
}

}  // namespace tokenservice
