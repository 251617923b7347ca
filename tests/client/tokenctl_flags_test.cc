// tokenctl's command line: per-command flags and help, usage errors that
// name the flag, values parsed once.

#include "client/tokenctl_flags.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenservice {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

absl::StatusOr<Invocation> Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "tokenctl");
  return ParseTokenctlCommandLine(args);
}

std::string ErrorOf(std::vector<std::string> args) {
  absl::StatusOr<Invocation> parsed = Parse(std::move(args));
  EXPECT_FALSE(parsed.ok());
  return parsed.ok() ? "" : std::string(parsed.status().message());
}

TEST(TokenctlFlags, GlobalFlagsGoBeforeOrAfterTheCommand) {
  auto parsed = Parse({"--json", "issue", "--scopes=a,b", "--timeout", "3s",
                       "--target=h:1", "--tls", "--min_validity=5m"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->command, "issue");
  EXPECT_TRUE(parsed->args.json);
  EXPECT_EQ(parsed->args.scopes, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(parsed->args.timeout, absl::Seconds(3));
  EXPECT_EQ(parsed->args.min_validity, absl::Minutes(5));
  EXPECT_EQ(parsed->connection.target, "h:1");
  EXPECT_TRUE(parsed->connection.tls);
  EXPECT_TRUE(parsed->help.empty());
}

TEST(TokenctlFlags, AFlagOfAnotherCommandIsAUsageErrorNamingIt) {
  EXPECT_THAT(ErrorOf({"health", "--scopes=x"}),
              HasSubstr("--scopes does not apply to health"));
  EXPECT_THAT(ErrorOf({"--scopes=x", "issue"}),
              HasSubstr("--scopes goes after the command"));
  EXPECT_THAT(ErrorOf({"issue", "--frobnicate"}),
              HasSubstr("unknown flag --frobnicate"));
  EXPECT_THAT(ErrorOf({"frobnicate"}), HasSubstr("unknown command"));
  EXPECT_THAT(ErrorOf({}), HasSubstr("expected a command"));
  EXPECT_THAT(ErrorOf({"issue", "list"}), HasSubstr("unexpected argument"));
}

TEST(TokenctlFlags, ValuesThatDoNotParseOrCannotBeUsedAreUsageErrors) {
  EXPECT_THAT(ErrorOf({"--timeout=10", "issue"}),
              HasSubstr("--timeout: \"10\" is not a duration"));
  EXPECT_THAT(ErrorOf({"list", "--page_size=many"}),
              HasSubstr("--page_size: \"many\" is not a whole number"));
  EXPECT_THAT(ErrorOf({"--tls=maybe", "issue"}),
              HasSubstr("is not true or false"));
  EXPECT_THAT(ErrorOf({"--max_attempts=0", "issue"}),
              HasSubstr("--max_attempts must be at least 1"));
  EXPECT_THAT(ErrorOf({"--timeout=0s", "issue"}),
              HasSubstr("--timeout must be positive"));
  EXPECT_THAT(ErrorOf({"issue", "--scopes"}), HasSubstr("needs a value"));
  // The next flag is not taken for a value.
  EXPECT_THAT(ErrorOf({"revoke", "--token", "--fingerprint=f"}),
              HasSubstr("--token needs a value"));
}

TEST(TokenctlFlags, RevokeNeedsExactlyOneTokenAndInfoAFingerprint) {
  EXPECT_THAT(ErrorOf({"revoke", "--token=t", "--fingerprint=f"}),
              HasSubstr("exactly one of"));
  EXPECT_THAT(ErrorOf({"revoke"}), HasSubstr("exactly one of"));
  EXPECT_THAT(ErrorOf({"info"}), HasSubstr("info needs --fingerprint"));
  auto parsed = Parse({"revoke", "--token_file=/t"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->token_file, "/t");
}

TEST(TokenctlFlags, HelpIsPerCommand) {
  auto global = Parse({"--help"});
  ASSERT_TRUE(global.ok());
  EXPECT_THAT(global->help, HasSubstr("Commands:"));
  EXPECT_THAT(global->help, HasSubstr("--target=HOST:PORT"));
  EXPECT_THAT(global->help, Not(HasSubstr("--scopes")));
  auto issue = Parse({"issue", "--help"});
  ASSERT_TRUE(issue.ok());
  EXPECT_THAT(issue->help, HasSubstr("--scopes=A,B"));
  EXPECT_THAT(issue->help, Not(HasSubstr("--service")));
  auto health = Parse({"help", "health"});
  ASSERT_TRUE(health.ok());
  EXPECT_THAT(health->help, HasSubstr("--service=NAME"));
  EXPECT_TRUE(health->command.empty());
}

TEST(TokenctlFlags, ListAllAndEmitDefaults) {
  auto parsed = Parse({"--json", "--emit_defaults", "list", "--all"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->args.all_pages);
  EXPECT_TRUE(parsed->args.emit_defaults);
}

}  // namespace
}  // namespace tokenservice
