#include "server/config/config_file.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace tokenservice {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kCanarySecret[] = "canary-config-secret-93b1";

std::string Write(const std::string& name, const std::string& content) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  std::ofstream(path) << content;
  return path;
}

// A start-up error that names `field` and leaks no secret.
auto NamesField(const std::string& field) {
  return AllOf(StatusIs(absl::StatusCode::kInvalidArgument), MessageHas(field),
               Not(MessageHas(kCanarySecret)));
}

class ConfigFileTest : public ::testing::Test {
 protected:
  absl::StatusOr<ConfigFileProfiles> Load(const std::string& text) {
    return LoadConfigFile(Write("config.textproto", text),
                          [this](const char* name) -> const char* {
                            auto it = env_.find(name);
                            return it == env_.end() ? nullptr
                                                    : it->second.c_str();
                          });
  }

  std::map<std::string, std::string> env_ = {{"SECRET", kCanarySecret},
                                             {"ID", "id-from-env"}};
};

TEST_F(ConfigFileTest, ResolvesValuesEnvironmentAndFiles) {
  const std::string secret_file =
      Write("secret", std::string(kCanarySecret) + "\n");
  auto config = Load(
      "default_profile: 'b'\n"
      "profiles { name: 'a' client_id { value: 'id-a' }\n"
      "           client_secret { env: 'SECRET' } default_scopes: 'webhooks' "
      "}\n"
      "profiles { name: 'b' client_id { env: 'ID' }\n"
      "           client_secret { file: '" +
      secret_file + "' } }\n");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->default_profile, "b");
  ASSERT_EQ(config->profiles.size(), 2u);
  EXPECT_EQ(config->profiles[0].credentials.client_id, "id-a");
  EXPECT_EQ(config->profiles[0].credentials.client_secret, kCanarySecret);
  EXPECT_THAT(config->profiles[0].default_scopes, ElementsAre("webhooks"));
  EXPECT_EQ(config->profiles[1].credentials.client_id, "id-from-env");
  // Files are kept as paths and read on every use.
  EXPECT_EQ(config->profiles[1].client_secret_file, secret_file);
  EXPECT_EQ(config->profiles[1].credentials.client_secret, "");
  auto loaded = CredentialStore::Load(config->profiles[1]);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->client_secret, kCanarySecret);
}

TEST_F(ConfigFileTest, SecretFileHoldingOnlyANewlineIsRefusedAtStartUp) {
  // CredentialStore trims trailing CR/LF, so this file is an empty secret:
  // refused now rather than at the first request to myPOS.
  const std::string blank = Write("blank-secret", "\r\n\n");
  EXPECT_THAT(Load("profiles { name: 'a' client_id { value: 'id' }\n"
                   "           client_secret { file: '" +
                   blank + "' } }\n"),
              NamesField("profiles[0].client_secret.file"));
}

// Found by fuzz/config_file_harness (file: ""): a directory where a secret
// file should be threw out of start-up instead of naming the field, and
// must not throw when the file is read again for a request either.
TEST_F(ConfigFileTest, SecretFileThatIsADirectoryIsRefused) {
  const std::string dir = std::getenv("TEST_TMPDIR");
  EXPECT_THAT(Load("profiles { name: 'a' client_id { value: 'id' }\n"
                   "           client_secret { file: '" +
                   dir + "' } }\n"),
              NamesField("profiles[0].client_secret.file"));
  CredentialProfile profile;
  profile.name = "a";
  profile.credentials.client_id = "id";
  profile.client_secret_file = dir;
  EXPECT_EQ(CredentialStore::Load(profile).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(ConfigFileTest, SyntaxErrorNamesFileAndLine) {
  absl::Status status = Load("profiles { name: 'a'\n  bogus: 1 }\n").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("config.textproto"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("line 2"));
}

TEST_F(ConfigFileTest, EachProblemNamesItsField) {
  EXPECT_THAT(Load("profiles { client_id { value: 'x' } client_secret { env: "
                   "'SECRET' } }"),
              NamesField("profiles[0].name"));
  EXPECT_THAT(Load("profiles { name: 'bad name' client_id { value: 'x' } "
                   "client_secret { env: 'SECRET' } }"),
              NamesField("profiles[0].name"));
  EXPECT_THAT(
      Load("profiles { name: 'a' client_id { value: 'x' } client_secret { env: "
           "'SECRET' } }"
           "profiles { name: 'a' client_id { value: 'x' } client_secret { env: "
           "'SECRET' } }"),
      NamesField("profiles[1].name"));
  EXPECT_THAT(Load("profiles { name: 'a' client_secret { env: 'SECRET' } }"),
              NamesField("profiles[0].client_id"));
  EXPECT_THAT(Load("profiles { name: 'a' client_id { value: 'x' } "
                   "client_secret { value: 'inline' } }"),
              NamesField("profiles[0].client_secret"));
  EXPECT_THAT(Load("profiles { name: 'a' client_id { value: 'x' } "
                   "client_secret { env: 'MISSING' } }"),
              NamesField("profiles[0].client_secret.env"));
  EXPECT_THAT(Load("profiles { name: 'a' client_id { value: 'x' } "
                   "client_secret { file: '/nonexistent/secret' } }"),
              NamesField("profiles[0].client_secret.file"));
  EXPECT_THAT(Load("profiles { name: 'a' client_id { value: 'x' } "
                   "client_secret { env: 'SECRET' } default_scopes: 'a b' }"),
              NamesField("profiles[0].default_scopes[0]"));
  EXPECT_THAT(
      Load("default_profile: 'zzz' profiles { name: 'a' "
           "client_id { value: 'x' } client_secret { env: 'SECRET' } }"),
      NamesField("default_profile"));
}

TEST_F(ConfigFileTest, CallersResolveToRulesWithKeyDigests) {
  const std::string key_file = Write("key", "canary-caller-key\n");
  auto config = Load(
      "profiles { name: 'a' client_id { value: 'x' } client_secret { env: "
      "'SECRET' } }\n"
      "callers { name: 'svc-1' peer_identities: 'spiffe://c/svc-1'\n"
      "          profiles: 'a' may_revoke: true }\n"
      "callers { name: 'svc-2' key { file: '" +
      key_file +
      "' } profiles: '*'\n"
      "          may_read_metadata: true }\n");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->callers.size(), 2u);
  EXPECT_EQ(config->callers[0].peer_identities[0], "spiffe://c/svc-1");
  EXPECT_TRUE(config->callers[0].may_revoke);
  EXPECT_EQ(config->callers[1].key_digest,
            CallerPolicy::KeyDigest("canary-caller-key"));
  EXPECT_TRUE(config->callers[1].may_read_metadata);
}

TEST_F(ConfigFileTest, CallerProblemsNameTheirField) {
  const std::string p =
      "profiles { name: 'a' client_id { value: 'x' } client_secret { env: "
      "'SECRET' } }\n";
  EXPECT_THAT(Load(p + "callers { name: 'c' profiles: 'a' }"),
              NamesField("callers[0]"));
  EXPECT_THAT(Load(p + "callers { name: 'c' key { value: 'inline' } }"),
              NamesField("callers[0].key"));
  EXPECT_THAT(Load(p + "callers { name: 'c' key { env: 'NOPE' } }"),
              NamesField("callers[0].key.env"));
  EXPECT_THAT(
      Load(p + "callers { name: 'c' key { env: 'SECRET' } profiles: 'a b' }"),
      NamesField("callers[0].profiles[0]"));
  EXPECT_THAT(
      Load(p + "callers { name: 'c' key { env: 'SECRET' } profiles: 'a' }"
               "callers { name: 'c' key { env: 'ID' } profiles: 'a' }"),
      NamesField("callers[1].name"));
}

TEST_F(ConfigFileTest, OneKeyOrIdentityNeverStandsForTwoCallers) {
  const std::string p =
      "profiles { name: 'a' client_id { value: 'x' } client_secret { env: "
      "'SECRET' } }\n";
  // Before, the key silently belonged to the last caller that listed it.
  EXPECT_THAT(
      Load(p + "callers { name: 'c1' key { env: 'SECRET' } profiles: 'a' }"
               "callers { name: 'c2' key { env: 'SECRET' } profiles: '*' }"),
      NamesField("callers[1].key"));
  EXPECT_THAT(Load(p + "callers { name: 'c1' peer_identities: 'spiffe://x/a' "
                       "profiles: 'a' }"
                       "callers { name: 'c2' peer_identities: 'dns:b' "
                       "peer_identities: 'spiffe://x/a' profiles: 'a' }"),
              NamesField("callers[1].peer_identities[1]"));
}

TEST_F(ConfigFileTest, CallerWithNoProfileIsAMistake) {
  const std::string p =
      "profiles { name: 'a' client_id { value: 'x' } client_secret { env: "
      "'SECRET' } }\n";
  EXPECT_THAT(Load(p + "callers { name: 'c' key { env: 'SECRET' } }"),
              NamesField("callers[0].profiles"));
  // A caller that brings its own credentials needs none.
  EXPECT_TRUE(Load(p + "callers { name: 'gw' key { env: 'SECRET' } "
                       "may_supply_credentials: true }")
                  .ok());
}

TEST_F(ConfigFileTest, CallerCredentialsAreOffUnlessEnabled) {
  const std::string p =
      "profiles { name: 'a' client_id { value: 'x' } client_secret { env: "
      "'SECRET' } }\n";
  auto off = Load(p);
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->caller_credentials);
  auto on = Load(p +
                 "caller_credentials { enabled: true max_cached_tokens: 7 }"
                 "callers { name: 'gw' key { env: 'SECRET' } "
                 "may_supply_credentials: true }");
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_TRUE(on->caller_credentials);
  EXPECT_EQ(on->max_caller_credential_tokens, 7u);
  EXPECT_TRUE(on->callers[0].may_supply_credentials);
  EXPECT_THAT(Load(p + "caller_credentials { max_cached_tokens: -1 }"),
              NamesField("caller_credentials.max_cached_tokens"));
}

TEST_F(ConfigFileTest, MissingFileIsNamed) {
  absl::Status status = LoadConfigFile("/nonexistent/config", [](const char*) {
                          return nullptr;
                        }).status();
  EXPECT_THAT(std::string(status.message()), HasSubstr("--config"));
}

// Found by fuzz/config_file_harness: text from the file quoted in an error
// (a name, a path, the character a syntax error stopped at) must not break
// the one-line start-up error.
TEST_F(ConfigFileTest, ErrorsQuotingTheFileStayOnOneLine) {
  for (const std::string& text : {
           std::string("default_profile: 'a\\nb'"),
           std::string("profiles { name: 'a' client_id { env: 'X\\nY' } }"),
           std::string("profiles { name: 'a' client_id { value: 'x' } "
                       "client_secret { file: 'no\\nfile' } }"),
           std::string("\x7f"),
       }) {
    absl::Status status = Load(text).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(std::string(status.message()), Not(HasSubstr("\n"))) << text;
    EXPECT_THAT(std::string(status.message()), Not(HasSubstr("\x7f"))) << text;
  }
}

}  // namespace
}  // namespace tokenservice
