// ResolveConnection: flags over environment over defaults, TLS switches,
// and the caller key from a file or the environment, never in a message.

#include "client/connection_config.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenservice {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kCanaryKey[] = "canary-caller-key-51c9";

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
}

std::string WriteFile(const std::string& name, const std::string& content) {
  const std::string path = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  std::ofstream(path) << content;
  return path;
}

TEST(ResolveConnection, NothingGivenIsPlaintextToLocalhostWithoutKey) {
  absl::StatusOr<Connection> c = ResolveConnection({}, FakeEnv({}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->channel.target, "localhost:50051");
  EXPECT_FALSE(c->channel.tls);
  EXPECT_EQ(c->caller_key, "");
}

TEST(ResolveConnection, EnvironmentFillsWhatFlagsLeaveEmpty) {
  absl::StatusOr<Connection> c =
      ResolveConnection({}, FakeEnv({{"TOKENSERVICE_TARGET", "env:1"},
                                     {"TOKENSERVICE_TLS", "true"},
                                     {"TOKENSERVICE_CA_FILE", "/env/ca.pem"},
                                     {"TOKENSERVICE_CERT_FILE", "/env/c.pem"},
                                     {"TOKENSERVICE_KEY_FILE", "/env/c.key"},
                                     {"TOKENSERVICE_CALLER_KEY", kCanaryKey}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->channel.target, "env:1");
  EXPECT_TRUE(c->channel.tls);
  EXPECT_EQ(c->channel.ca_file, "/env/ca.pem");
  EXPECT_EQ(c->channel.cert_file, "/env/c.pem");
  EXPECT_EQ(c->channel.key_file, "/env/c.key");
  EXPECT_EQ(c->caller_key, kCanaryKey);
}

TEST(ResolveConnection, FlagsWinOverEnvironment) {
  ConnectionFlags flags;
  flags.target = "flag:2";
  flags.ca_file = "/flag/ca.pem";
  flags.caller_key_file = WriteFile("flag.key", "from-flag-file\n");
  absl::StatusOr<Connection> c = ResolveConnection(
      flags, FakeEnv({{"TOKENSERVICE_TARGET", "env:1"},
                      {"TOKENSERVICE_CA_FILE", "/env/ca.pem"},
                      {"TOKENSERVICE_CALLER_KEY", kCanaryKey}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->channel.target, "flag:2");
  EXPECT_EQ(c->channel.ca_file, "/flag/ca.pem");
  EXPECT_TRUE(c->channel.tls);  // a CA file turns TLS on
  EXPECT_EQ(c->caller_key, "from-flag-file");
}

TEST(ResolveConnection, CallerKeyFileVariableWinsOverKeyVariable) {
  absl::StatusOr<Connection> c = ResolveConnection(
      {}, FakeEnv({{"TOKENSERVICE_CALLER_KEY_FILE",
                    WriteFile("env.key", "from-env-file\r\n")},
                   {"TOKENSERVICE_CALLER_KEY", kCanaryKey}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->caller_key, "from-env-file");
}

TEST(ResolveConnection, TlsFlagAloneTurnsTlsOn) {
  ConnectionFlags flags;
  flags.tls = true;
  absl::StatusOr<Connection> c = ResolveConnection(flags, FakeEnv({}));
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->channel.tls);
  EXPECT_EQ(c->channel.ca_file, "");
}

TEST(ResolveConnection, MalformedTlsVariableIsInvalidArgument) {
  absl::Status s =
      ResolveConnection({}, FakeEnv({{"TOKENSERVICE_TLS", "maybe"}})).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("TOKENSERVICE_TLS"));
}

TEST(ResolveConnection, CertificateWithoutKeyIsInvalidArgument) {
  ConnectionFlags flags;
  flags.cert_file = "/flag/c.pem";
  absl::Status s = ResolveConnection(flags, FakeEnv({})).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--key_file"));
}

TEST(ResolveConnection, UnreadableKeyFileIsFailedPreconditionNamingFlag) {
  ConnectionFlags flags;
  flags.caller_key_file = "/nonexistent/caller.key";
  absl::Status s = ResolveConnection(flags, FakeEnv({})).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("--caller_key_file"));
}

TEST(ResolveConnection, KeyThatCannotBeMetadataIsRejectedWithoutShowingIt) {
  ConnectionFlags flags;
  flags.caller_key_file =
      WriteFile("bad.key", absl::StrCat(kCanaryKey, "\nsecond line\n"));
  absl::Status s = ResolveConnection(flags, FakeEnv({})).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--caller_key_file"));
  EXPECT_THAT(s.message(), Not(HasSubstr(kCanaryKey)));

  flags.caller_key_file = WriteFile("empty.key", "\n");
  EXPECT_EQ(ResolveConnection(flags, FakeEnv({})).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tokenservice
