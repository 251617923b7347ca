#include "server/fleet/fleet_keyring.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/broker/credential_store.h"

namespace tokenservice {
namespace {

bool IsKeyId(absl::string_view id) {
  return !id.empty() && id.size() <= 64 &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.';
         });
}

}  // namespace

absl::StatusOr<FleetKeyring> FleetKeyring::Load(const std::string& dir) {
  auto problem = [&dir](absl::string_view what) {
    return absl::FailedPreconditionError(
        absl::StrCat("--fleet_keys_dir \"", dir, "\": ", what));
  };
  FleetKeyring keyring;
  std::error_code error;
  std::filesystem::directory_iterator it(dir, error);
  if (error)
    return problem(absl::StrCat("cannot be listed: ", error.message()));
  for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
    const std::string name = it->path().filename().string();
    // is_regular_file follows links, as a Secret volume's keys are.
    if (name.empty() || name[0] == '.' || name == kActiveKeyFile ||
        !std::filesystem::is_regular_file(it->path(), error)) {
      continue;
    }
    if (!IsKeyId(name)) {
      return problem(absl::StrCat(
          "key file \"", absl::CHexEscape(name),
          "\" is no valid key id (letters, digits, '-', '_', '.')"));
    }
    std::optional<std::string> text = ReadTrimmedFile(it->path().string());
    std::string key;
    if (!text.has_value() || !absl::Base64Unescape(*text, &key) ||
        key.size() != kFleetKeyBytes) {
      return problem(absl::StrCat("key file \"", name, "\" does not hold ",
                                  kFleetKeyBytes, " bytes in base64"));
    }
    keyring.keys_.emplace(name, std::move(key));
  }
  if (error)
    return problem(absl::StrCat("cannot be listed: ", error.message()));
  std::optional<std::string> active =
      ReadTrimmedFile(absl::StrCat(dir, "/", kActiveKeyFile));
  if (!active.has_value() || active->empty()) {
    return problem(absl::StrCat("no \"", kActiveKeyFile,
                                "\" file naming the key for new writes"));
  }
  if (keyring.keys_.find(*active) == keyring.keys_.end()) {
    return problem(absl::StrCat("\"", kActiveKeyFile, "\" names key \"",
                                absl::CHexEscape(*active),
                                "\", which is not in the directory"));
  }
  keyring.active_id_ = *std::move(active);
  return keyring;
}

const std::string* FleetKeyring::Find(absl::string_view id) const {
  auto it = keys_.find(id);
  return it == keys_.end() ? nullptr : &it->second;
}

std::vector<std::string> FleetKeyring::ids() const {
  std::vector<std::string> ids;
  ids.reserve(keys_.size());
  for (const auto& [id, key] : keys_) ids.push_back(id);
  return ids;
}

}  // namespace tokenservice
