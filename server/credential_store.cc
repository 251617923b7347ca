#include "server/credential_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/upstream/error_reason.h"

namespace tokenservice {

CredentialStore::CredentialStore(std::string default_profile,
                                 std::vector<CredentialProfile> profiles)
    : default_profile_(std::move(default_profile)) {
  for (CredentialProfile& profile : profiles) {
    std::string name = profile.name;
    profiles_.emplace(std::move(name), std::move(profile));
  }
}

absl::StatusOr<CredentialProfile> CredentialStore::Find(
    absl::string_view name) const {
  if (name.empty()) name = default_profile_;
  auto it = profiles_.find(name);
  if (it == profiles_.end()) {
    return WithReason(absl::NotFoundError(absl::StrCat(
                          "no credential profile named \"", name, "\"")),
                      kReasonProfileNotFound);
  }
  return it->second;
}

}  // namespace tokenservice
