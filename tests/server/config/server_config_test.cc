#include "server/config/server_config.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/broker/credential_store.h"

ABSL_DECLARE_FLAG(std::string, mypos_env);
ABSL_DECLARE_FLAG(std::string, token_url);
ABSL_DECLARE_FLAG(std::string, revoke_url);
ABSL_DECLARE_FLAG(std::string, client_id_file);
ABSL_DECLARE_FLAG(std::string, client_secret_file);
ABSL_DECLARE_FLAG(double, refresh_window);
ABSL_DECLARE_FLAG(std::string, config);
ABSL_DECLARE_FLAG(std::string, default_profile);
ABSL_DECLARE_FLAG(absl::Duration, refresh_retry_max);
ABSL_DECLARE_FLAG(int, upstream_max_attempts);
ABSL_DECLARE_FLAG(absl::Duration, max_token_lifetime);
ABSL_DECLARE_FLAG(double, upstream_backoff_multiplier);
ABSL_DECLARE_FLAG(absl::Duration, upstream_initial_backoff);
ABSL_DECLARE_FLAG(absl::Duration, upstream_attempt_timeout);
ABSL_DECLARE_FLAG(absl::Duration, rejected_credentials_ttl);
ABSL_DECLARE_FLAG(absl::Duration, max_connection_idle);
ABSL_DECLARE_FLAG(absl::Duration, max_connection_age);

namespace tokenservice {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kCanarySecret[] = "canary-secret-7f3a";

std::string WriteFile(const std::string& name, const std::string& content) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  std::ofstream(path) << content;
  return path;
}

class ConfigFromFlagsTest : public ::testing::Test {
 protected:
  absl::StatusOr<ServerConfig> Load() {
    return ConfigFromFlags([this](const char* name) -> const char* {
      auto it = env_.find(name);
      return it == env_.end() ? nullptr : it->second.c_str();
    });
  }

  absl::FlagSaver saver_;
  std::map<std::string, std::string> env_ = {
      {"MYPOS_CLIENT_ID", "id-1"}, {"MYPOS_CLIENT_SECRET", kCanarySecret}};
};

TEST_F(ConfigFromFlagsTest, DefaultsToProductionAndEnvironmentCredentials) {
  auto config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->token_url, kProductionTokenUrl);
  EXPECT_EQ(config->revoke_url, kProductionRevokeUrl);
  ASSERT_EQ(config->profiles.size(), 1u);
  EXPECT_EQ(config->profiles[0].name, "default");
  EXPECT_EQ(config->profiles[0].credentials.client_id, "id-1");
  EXPECT_EQ(config->profiles[0].credentials.client_secret, kCanarySecret);
}

TEST_F(ConfigFromFlagsTest, SandboxSelectsSandboxUrls) {
  absl::SetFlag(&FLAGS_mypos_env, "sandbox");
  auto config = Load();
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->token_url, kSandboxTokenUrl);
  EXPECT_EQ(config->revoke_url, kSandboxRevokeUrl);
}

TEST_F(ConfigFromFlagsTest, UnknownEnvironmentIsNamed) {
  absl::SetFlag(&FLAGS_mypos_env, "staging");
  EXPECT_THAT(std::string(Load().status().message()), HasSubstr("--mypos_env"));
}

TEST_F(ConfigFromFlagsTest, MaxTokenLifetimeReachesTheReplyParser) {
  EXPECT_EQ(Load()->token_reply.max_expires_in, absl::Hours(24));
  absl::SetFlag(&FLAGS_max_token_lifetime, absl::Hours(2));
  EXPECT_EQ(Load()->token_reply.max_expires_in, absl::Hours(2));
  absl::SetFlag(&FLAGS_max_token_lifetime, absl::Milliseconds(500));
  EXPECT_THAT(std::string(Load().status().message()),
              HasSubstr("--max_token_lifetime"));
}

TEST_F(ConfigFromFlagsTest, MissingSecretNamesVariableAndFlag) {
  env_.erase("MYPOS_CLIENT_SECRET");
  absl::Status s = Load().status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("MYPOS_CLIENT_SECRET"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("--client_secret_file"));
}

TEST_F(ConfigFromFlagsTest, SecretFilesWinAndAreReadOnEveryUse) {
  const std::string secret = WriteFile("secret", "old\r\n");
  absl::SetFlag(&FLAGS_client_id_file, WriteFile("id", "file-id\n"));
  absl::SetFlag(&FLAGS_client_secret_file, secret);
  auto config = Load();
  ASSERT_TRUE(config.ok());
  auto loaded = CredentialStore::Load(config->profiles[0]);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->client_id, "file-id");
  EXPECT_EQ(loaded->client_secret, "old");
  WriteFile("secret", std::string(kCanarySecret) + "\n");  // rotated
  EXPECT_EQ(CredentialStore::Load(config->profiles[0])->client_secret,
            kCanarySecret);
}

TEST_F(ConfigFromFlagsTest, ConfigFileProfilesJoinTheEnvironmentProfile) {
  absl::SetFlag(&FLAGS_config,
                WriteFile("config",
                          "default_profile: 'file'\n"
                          "profiles { name: 'file' client_id { value: 'f' }"
                          " client_secret { env: 'MYPOS_CLIENT_SECRET' } }"));
  auto config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->default_profile, "file");
  ASSERT_EQ(config->profiles.size(), 2u);
  EXPECT_EQ(config->profiles[0].name, "file");
  EXPECT_EQ(config->profiles[1].name, "default");
}

TEST_F(ConfigFromFlagsTest, CallerNamingAnUnknownProfileStopsStartUp) {
  const std::string base =
      "profiles { name: 'payments' client_id { value: 'f' }"
      " client_secret { env: 'MYPOS_CLIENT_SECRET' } }\n";
  absl::SetFlag(&FLAGS_config,
                WriteFile("typo", base + "callers { name: 'c' "
                                         "key { env: 'MYPOS_CLIENT_SECRET' } "
                                         "profiles: 'paymnets' }"));
  absl::Status status = Load().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("callers[0].profiles[0]: no profile is named "
                        "\"paymnets\""));
  // The environment's profile counts too, and so does "*".
  absl::SetFlag(&FLAGS_config,
                WriteFile("ok", base + "callers { name: 'c' "
                                       "key { env: 'MYPOS_CLIENT_SECRET' } "
                                       "profiles: 'payments' "
                                       "profiles: 'default' profiles: '*' }"));
  EXPECT_TRUE(Load().ok()) << Load().status();
}

TEST_F(ConfigFromFlagsTest, ConfigFileAloneNeedsNoEnvironment) {
  env_ = {{"S", kCanarySecret}};
  absl::SetFlag(&FLAGS_config,
                WriteFile("config",
                          "profiles { name: 'default' client_id { value: 'f' }"
                          " client_secret { env: 'S' } }"));
  auto config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->profiles.size(), 1u);
}

TEST_F(ConfigFromFlagsTest, ProfileDefinedTwiceOrMissingDefaultIsAnError) {
  absl::SetFlag(&FLAGS_config,
                WriteFile("config",
                          "profiles { name: 'default' client_id { value: 'f' }"
                          " client_secret { env: 'MYPOS_CLIENT_SECRET' } }"));
  EXPECT_THAT(std::string(Load().status().message()),
              HasSubstr("defined both"));
  env_.clear();
  absl::SetFlag(&FLAGS_config,
                WriteFile("config",
                          "profiles { name: 'other' client_id { value: 'f' }"
                          " client_secret { file: '" +
                              WriteFile("s", "x") + "' } }"));
  EXPECT_THAT(std::string(Load().status().message()),
              HasSubstr("default profile \"default\" is not defined"));
}

TEST_F(ConfigFromFlagsTest, UnreadableOrEmptySecretFileIsNamedNotEchoed) {
  absl::SetFlag(&FLAGS_client_secret_file, "/nonexistent/secret");
  EXPECT_THAT(std::string(Load().status().message()),
              HasSubstr("--client_secret_file"));
  absl::SetFlag(&FLAGS_client_secret_file, WriteFile("empty", "\n"));
  EXPECT_THAT(std::string(Load().status().message()), HasSubstr("is empty"));
}

TEST_F(ConfigFromFlagsTest, BadUrlStopsStartWithFieldName) {
  absl::SetFlag(&FLAGS_token_url, "not a url");
  EXPECT_THAT(std::string(Load().status().message()), HasSubstr("--token_url"));
  absl::SetFlag(&FLAGS_token_url, "");
  absl::SetFlag(&FLAGS_revoke_url, "http://auth.example.com/oauth/revoke");
  EXPECT_THAT(std::string(Load().status().message()),
              HasSubstr("--revoke_url"));
}

TEST_F(ConfigFromFlagsTest, RefreshSettingsAreCheckedAndApplied) {
  absl::SetFlag(&FLAGS_refresh_window, 0.4);
  absl::SetFlag(&FLAGS_refresh_retry_max, absl::Seconds(10));
  auto config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->broker.refresh_window, 0.4);
  EXPECT_EQ(config->broker.refresh_retry_max, absl::Seconds(10));
  absl::SetFlag(&FLAGS_refresh_window, 0.9);
  EXPECT_THAT(std::string(Load().status().message()),
              HasSubstr("--refresh_window"));
}

TEST_F(ConfigFromFlagsTest, RetryDefaultsAreDocumentedValues) {
  auto config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->retry.max_attempts, 4);
  EXPECT_EQ(config->retry.initial_backoff, absl::Milliseconds(100));
  EXPECT_EQ(config->retry.max_backoff, absl::Seconds(2));
  EXPECT_EQ(config->retry.backoff_multiplier, 2.0);
  EXPECT_EQ(config->retry.max_retry_after, absl::Seconds(10));
  EXPECT_EQ(config->retry.rejected_credentials_ttl, absl::Seconds(30));
  EXPECT_EQ(config->upstream_attempt_timeout, absl::Seconds(5));
  EXPECT_EQ(config->broker.upstream_timeout, absl::Seconds(10));
  EXPECT_EQ(config->broker.deadline_margin, absl::Milliseconds(50));
}

TEST_F(ConfigFromFlagsTest, RetryFlagsAreReadAndChecked) {
  absl::SetFlag(&FLAGS_upstream_max_attempts, 2);
  absl::SetFlag(&FLAGS_rejected_credentials_ttl, absl::ZeroDuration());
  auto config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->retry.max_attempts, 2);
  EXPECT_EQ(config->retry.rejected_credentials_ttl, absl::ZeroDuration());

  absl::SetFlag(&FLAGS_upstream_max_attempts, 0);
  EXPECT_THAT(Load().status().message(), HasSubstr("--upstream_max_attempts"));
  absl::SetFlag(&FLAGS_upstream_max_attempts, 4);
  absl::SetFlag(&FLAGS_upstream_backoff_multiplier, 0.5);
  EXPECT_THAT(Load().status().message(),
              HasSubstr("--upstream_backoff_multiplier"));
  absl::SetFlag(&FLAGS_upstream_backoff_multiplier, 2.0);
  absl::SetFlag(&FLAGS_upstream_initial_backoff, -absl::Seconds(1));
  EXPECT_THAT(Load().status().message(),
              HasSubstr("--upstream_initial_backoff"));
  absl::SetFlag(&FLAGS_upstream_initial_backoff, absl::Milliseconds(100));
  absl::SetFlag(&FLAGS_upstream_attempt_timeout, absl::ZeroDuration());
  EXPECT_THAT(Load().status().message(),
              HasSubstr("--upstream_attempt_timeout"));
}

// "inf" is how docs/operations.md turns the idle and age limits off (and
// with them gRPC's per-call filter); below 1 s is refused.
TEST_F(ConfigFromFlagsTest, ConnectionLimitsAreReadInfTurnsThemOff) {
  auto config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->grpc.max_connection_idle, absl::Minutes(5));
  EXPECT_EQ(config->grpc.max_connection_age, absl::Minutes(30));
  // As the command line gives it.
  for (const char* name : {"max_connection_idle", "max_connection_age"}) {
    std::string error;
    ASSERT_TRUE(absl::FindCommandLineFlag(name)->ParseFrom("inf", &error))
        << error;
  }
  config = Load();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->grpc.max_connection_idle, absl::InfiniteDuration());
  EXPECT_EQ(config->grpc.max_connection_age, absl::InfiniteDuration());
  absl::SetFlag(&FLAGS_max_connection_idle, absl::Milliseconds(999));
  EXPECT_FALSE(Load().ok());
  absl::SetFlag(&FLAGS_max_connection_idle, absl::Seconds(1));
  EXPECT_TRUE(Load().ok());
}

TEST(ValidateUpstreamUrl, AcceptsHttpsAndLoopbackHttpOnly) {
  EXPECT_TRUE(
      ValidateUpstreamUrl("f", "https://auth-api.mypos.com/oauth/token").ok());
  EXPECT_TRUE(ValidateUpstreamUrl("f", "https://h:8443/x").ok());
  EXPECT_TRUE(
      ValidateUpstreamUrl("f", "http://127.0.0.1:8080/oauth/token").ok());
  EXPECT_TRUE(ValidateUpstreamUrl("f", "http://[::1]:8080/oauth/token").ok());
  EXPECT_TRUE(ValidateUpstreamUrl("f", "http://localhost/oauth/token").ok());
  for (const char* bad :
       {"", "ftp://h/x", "https://", "https:///x", "http://10.0.0.1/x",
        "https://user:pw@h/x", "https://h/a b", "http://127.0.0.1.evil.com/"}) {
    EXPECT_EQ(ValidateUpstreamUrl("f", bad).code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(ValidateUpstreamUrl, NeverRepeatsCredentialsFoundInTheUrl) {
  for (const char* url :
       {"https://user:canary-pw@h/x", "ftp://user:canary-pw@h/x",
        "http://canary-pw@10.0.0.1/x"}) {
    const absl::Status status = ValidateUpstreamUrl("--token_url", url);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << url;
    EXPECT_THAT(status.message(), Not(HasSubstr("canary-pw"))) << url;
    EXPECT_THAT(status.message(), HasSubstr("<redacted>@")) << url;
  }
  // A '@' after the authority is part of the path, not user information.
  EXPECT_TRUE(ValidateUpstreamUrl("f", "https://h/x@y").ok());
}

}  // namespace
}  // namespace tokenservice
