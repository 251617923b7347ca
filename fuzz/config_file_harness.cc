#include "fuzz/config_file_harness.h"

#include <stdlib.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/scopes.h"
#include "fuzz/fuzz_check.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "proto/config.pb.h"
#include "server/config/config_file.h"
#include "server/rpc/request_validation.h"

namespace tokenservice {
namespace fuzz {
namespace {

using mypos::token::config::v1::Config;
using mypos::token::config::v1::SecretSource;

constexpr char kConfigName[] = "config.textproto";
constexpr char kSecretValue[] = "canary:config-secret-5e0d";

const char* FakeGetenv(const char* name) {
  if (std::strcmp(name, "ID") == 0) return "id-from-env";
  if (std::strcmp(name, "SECRET") == 0) return kSecretValue;
  if (std::strcmp(name, "EMPTY") == 0) return "";
  return nullptr;
}

// Creates the scratch directory with its files; returns its path. Once per
// process.
std::string MakeScratchDirectory() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(base != nullptr ? base : "/tmp",
                                 "/tokenservice-config-fuzz-XXXXXX");
  FUZZ_CHECK(mkdtemp(dir.data()) != nullptr, dir);
  std::ofstream(dir + "/secret") << kSecretValue << "\n";
  std::ofstream(dir + "/id") << "id-from-file\n";
  std::ofstream(dir + "/empty");
  return dir;
}

class IgnoreErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int, int, const std::string&) override {}
};

// Points a file source into `dir`. False when it would leave it.
bool MoveIntoScratchDirectory(const std::string& dir, SecretSource* source) {
  if (source->source_case() != SecretSource::kFile) return true;
  const std::string& path = source->file();
  if (absl::StartsWith(path, "/") || absl::StrContains(path, "..")) {
    return false;
  }
  source->set_file(absl::StrCat(dir, "/", path));
  return true;
}

bool HasFileSource(const Config& config) {
  for (const auto& p : config.profiles()) {
    if (p.client_id().has_file() || p.client_secret().has_file()) return true;
  }
  return false;
}

void CheckRejected(const absl::Status& status, const std::string& text) {
  const std::string detail = status.ToString();
  const absl::string_view message = status.message();
  FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument, detail);
  FUZZ_CHECK(absl::StrContains(message, absl::StrCat(kConfigName, ": ")),
             detail);
  FUZZ_CHECK(IsOneLine(message), detail);
  // The secret's value is never quoted (its name and file may be).
  if (!absl::StrContains(text, kSecretValue)) {
    FUZZ_CHECK(!absl::StrContains(message, kSecretValue), detail);
  }
}

bool SourceResolved(const std::string& value, const std::string& file) {
  return !value.empty() || !file.empty();
}

void CheckAccepted(const ConfigFileProfiles& out, const Config& config) {
  FUZZ_CHECK(out.profiles.size() == static_cast<size_t>(config.profiles_size()),
             "profile count");
  std::set<std::string> names;
  for (const CredentialProfile& p : out.profiles) {
    FUZZ_CHECK(!p.name.empty(), "empty profile name accepted");
    FUZZ_CHECK(ValidateCredentialName("name", p.name).ok(), p.name);
    FUZZ_CHECK(names.insert(p.name).second, "duplicate name " + p.name);
    FUZZ_CHECK(SourceResolved(p.credentials.client_id, p.client_id_file),
               "client_id unresolved in " + p.name);
    FUZZ_CHECK(
        SourceResolved(p.credentials.client_secret, p.client_secret_file),
        "client_secret unresolved in " + p.name);
    for (const std::string& scope : p.default_scopes) {
      FUZZ_CHECK(ValidateScope("scope", scope).ok(), scope);
    }
  }
  FUZZ_CHECK(out.default_profile.empty() || names.count(out.default_profile),
             "default_profile names no profile: " + out.default_profile);
}

}  // namespace

void FuzzConfigFile(const uint8_t* data, size_t size) {
  static const std::string* const dir = new std::string(MakeScratchDirectory());
  const std::string text(reinterpret_cast<const char*>(data), size);

  // Parse as LoadConfigFile does, to see whether the text names files.
  Config config;
  IgnoreErrors ignore;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&ignore);
  const bool parsed = parser.ParseFromString(text, &config);

  if (parsed && HasFileSource(config)) {
    // Files resolve in the scratch directory and nowhere else, so the
    // fuzzer opens nothing else (a FIFO would hang it): resolve the parsed
    // config with its paths moved there.
    for (auto& p : *config.mutable_profiles()) {
      if (!MoveIntoScratchDirectory(*dir, p.mutable_client_id()) ||
          !MoveIntoScratchDirectory(*dir, p.mutable_client_secret())) {
        return;
      }
    }
    absl::StatusOr<ConfigFileProfiles> resolved =
        ResolveConfig(config, kConfigName, FakeGetenv);
    if (resolved.ok()) {
      CheckAccepted(*resolved, config);
    } else {
      CheckRejected(resolved.status(), text);
    }
    return;
  }

  // No file to open: the whole path, text to profiles.
  const std::string path = absl::StrCat(*dir, "/", kConfigName);
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << text; }
  absl::StatusOr<ConfigFileProfiles> loaded = LoadConfigFile(path, FakeGetenv);
  if (loaded.ok()) {
    FUZZ_CHECK(parsed, "accepted a file that does not parse");
    CheckAccepted(*loaded, config);
  } else {
    CheckRejected(loaded.status(), text);
  }
}

}  // namespace fuzz
}  // namespace tokenservice
