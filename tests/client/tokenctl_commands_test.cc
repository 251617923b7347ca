// tokenctl's commands against a scripted TokenService on loopback: what each
// sends (fields, deadline, x-caller-key), how replies and errors print, and
// exit codes that follow the gRPC code.

#include "client/tokenctl_commands.h"

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/channel_factory.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "tests/client/recording_token_service.h"

namespace tokenservice {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;

constexpr char kCanaryCallerKey[] = "canary-ctl-key-90be";

class TokenctlCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartTestServer(&service_);
    ASSERT_NE(server_.server, nullptr);
    ChannelOptions options;
    options.target = absl::StrCat("127.0.0.1:", server_.port);
    options.max_attempts = 1;
    auto channel = CreateTokenServiceChannel(options);
    ASSERT_TRUE(channel.ok());
    channel_ = *channel;
    args_.caller_key = kCanaryCallerKey;
  }

  CommandOutput Run(absl::string_view command) {
    return RunCommand(command, args_, channel_);
  }

  RecordingTokenService service_;
  TestServer server_;
  std::shared_ptr<grpc::Channel> channel_;
  CommandArgs args_;
};

TEST_F(TokenctlCommandsTest, IssueSendsFieldsDeadlineAndCallerKey) {
  args_.credential = "prof";
  args_.scopes = {"webhooks", "b"};
  args_.min_validity = absl::Minutes(5);
  args_.rejected_fingerprint = "0123456789abcdef";
  args_.timeout = absl::Seconds(4);
  CommandOutput out = Run("issue");
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_EQ(service_.last_request(),
            "credential: \"prof\" scopes: \"webhooks\" scopes: \"b\" "
            "min_validity { seconds: 300 } "
            "rejected_fingerprint: \"0123456789abcdef\"");
  EXPECT_THAT(service_.last_metadata(),
              ElementsAre(Pair("x-caller-key", kCanaryCallerKey)));
  EXPECT_GT(service_.last_timeout(), absl::Seconds(2));
  // The deadline crosses clocks (the client's wall clock, a relative
  // timeout on the wire, the server's clock), so it may come back a few
  // milliseconds longer (a CI run saw 4.009 s).
  EXPECT_LE(service_.last_timeout(),
            absl::Seconds(4) + absl::Milliseconds(100));
  EXPECT_THAT(out.out, HasSubstr("access_token: recorded-token-value\n"));
  EXPECT_THAT(out.out, HasSubstr("token_type: Bearer\n"));
  EXPECT_THAT(out.out + out.err, Not(HasSubstr(kCanaryCallerKey)));
}

TEST_F(TokenctlCommandsTest, WithoutCallerKeyNoMetadataIsSent) {
  args_.caller_key = "";
  EXPECT_EQ(Run("list").exit_code, 0);
  EXPECT_THAT(service_.last_metadata(), IsEmpty());
}

TEST_F(TokenctlCommandsTest, JsonPrintsOneObjectWithProtoFieldNames) {
  args_.json = true;
  args_.fingerprint = "00112233aabbccdd";
  CommandOutput out = Run("revoke");
  EXPECT_EQ(out.exit_code, 0);
  EXPECT_EQ(out.out,
            "{\"fingerprint\":\"00112233aabbccdd\",\"was_cached\":true}\n");
}

TEST_F(TokenctlCommandsTest, RevokeNeedsExactlyOneTargetAndSendsNothingElse) {
  CommandOutput out = Run("revoke");
  EXPECT_EQ(out.exit_code, grpc::INVALID_ARGUMENT);
  EXPECT_THAT(out.err, HasSubstr("INVALID_ARGUMENT"));
  args_.token = "t";
  args_.fingerprint = "00112233aabbccdd";
  EXPECT_EQ(Run("revoke").exit_code, grpc::INVALID_ARGUMENT);
  EXPECT_EQ(service_.calls(), 0);

  args_.fingerprint = "";
  args_.credential = "prof";
  EXPECT_EQ(Run("revoke").exit_code, 0);
  EXPECT_EQ(service_.last_request(), "credential: \"prof\" token: \"t\"");
}

TEST_F(TokenctlCommandsTest, InfoAndListSendTheirFields) {
  args_.fingerprint = "00112233aabbccdd";
  CommandOutput info = Run("info");
  EXPECT_EQ(info.exit_code, 0);
  EXPECT_EQ(service_.last_request(), "fingerprint: \"00112233aabbccdd\"");
  EXPECT_THAT(info.out, HasSubstr("state: TOKEN_STATE_FRESH\n"));

  args_.credential = "prof";
  args_.page_size = 7;
  args_.page_token = "ff";
  CommandOutput list = Run("list");
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_EQ(service_.last_request(),
            "credential: \"prof\" page_size: 7 page_token: \"ff\"");
  EXPECT_THAT(list.out, HasSubstr("- tokens:\n  fingerprint: 0011"));
}

TEST_F(TokenctlCommandsTest, HealthReportsServing) {
  CommandOutput out = Run("health");
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_EQ(out.out, "status: SERVING\n");
}

TEST_F(TokenctlCommandsTest, HealthNotServingExitsUnavailable) {
  server_.server->GetHealthCheckService()->SetServingStatus(false);
  CommandOutput out = Run("health");
  EXPECT_EQ(out.exit_code, kNotServingExitCode);
  EXPECT_EQ(out.exit_code, grpc::UNAVAILABLE);
  EXPECT_EQ(out.out, "status: NOT_SERVING\n");
  EXPECT_EQ(out.err, "tokenctl: UNAVAILABLE: the server is NOT_SERVING\n");
  args_.json = true;
  out = Run("health");
  EXPECT_EQ(out.exit_code, grpc::UNAVAILABLE);
  EXPECT_EQ(out.out, "{\"status\":\"NOT_SERVING\"}\n");
  EXPECT_EQ(out.err,
            "{\"code\":14,\"status\":\"UNAVAILABLE\","
            "\"message\":\"the server is NOT_SERVING\"}\n");
}

TEST_F(TokenctlCommandsTest, HealthOfOneServiceNotServingNamesIt) {
  server_.server->GetHealthCheckService()->SetServingStatus("svc", false);
  args_.service = "svc";
  CommandOutput out = Run("health");
  EXPECT_EQ(out.exit_code, grpc::UNAVAILABLE);
  EXPECT_EQ(out.err, "tokenctl: UNAVAILABLE: service \"svc\" is NOT_SERVING\n");
  server_.server->GetHealthCheckService()->SetServingStatus("svc", true);
  EXPECT_EQ(Run("health").exit_code, 0);
}

TEST_F(TokenctlCommandsTest, ExitCodeIsTheGrpcCode) {
  for (grpc::StatusCode code :
       {grpc::INVALID_ARGUMENT, grpc::NOT_FOUND, grpc::FAILED_PRECONDITION,
        grpc::OUT_OF_RANGE, grpc::UNAVAILABLE, grpc::RESOURCE_EXHAUSTED}) {
    service_.FailNext(1, grpc::Status(code, "scripted failure"));
    CommandOutput out = Run("issue");
    EXPECT_EQ(out.exit_code, static_cast<int>(code));
    EXPECT_EQ(out.out, "");
    EXPECT_THAT(out.err, HasSubstr(": scripted failure\n"));
  }
}

TEST_F(TokenctlCommandsTest, ErrorsPrintCodeNameOrJsonObject) {
  service_.FailNext(2, grpc::Status(grpc::NOT_FOUND, "no profile \"x\""));
  EXPECT_EQ(Run("issue").err, "tokenctl: NOT_FOUND: no profile \"x\"\n");
  args_.json = true;
  EXPECT_EQ(Run("issue").err,
            "{\"code\":5,\"status\":\"NOT_FOUND\","
            "\"message\":\"no profile \\\"x\\\"\"}\n");
}

TEST_F(TokenctlCommandsTest, UnreachableServerIsUnavailable) {
  server_.server->Shutdown();
  server_.server.reset();
  args_.timeout = absl::Seconds(5);
  EXPECT_EQ(Run("issue").exit_code, grpc::UNAVAILABLE);
}

TEST(TokenctlCommands, UnknownCommandIsUsageError) {
  EXPECT_FALSE(IsCommand("frobnicate"));
  EXPECT_TRUE(IsCommand("health"));
  auto channel =
      grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials());
  CommandArgs args;
  CommandOutput out = RunCommand("frobnicate", args, channel);
  EXPECT_EQ(out.exit_code, kUsageExitCode);
  EXPECT_EQ(out.err, "tokenctl: unknown command frobnicate\n");
  args.json = true;
  out = RunCommand("frobnicate", args, channel);
  EXPECT_EQ(out.exit_code, kUsageExitCode);
  EXPECT_EQ(out.err,
            "{\"code\":64,\"status\":\"USAGE\","
            "\"message\":\"unknown command frobnicate\"}\n");
}

// Errors before any call (tokenctl.cc: connection settings, files) print
// as the call errors do.
TEST(TokenctlCommands, ErrorOutputIsTextOrOneJsonObject) {
  const absl::Status status =
      absl::FailedPreconditionError("cannot open --token_file /x \"y\"");
  CommandOutput text = ErrorOutput(status, /*json=*/false);
  EXPECT_EQ(text.exit_code, 9);
  EXPECT_EQ(text.out, "");
  EXPECT_EQ(text.err,
            "tokenctl: FAILED_PRECONDITION: "
            "cannot open --token_file /x \"y\"\n");
  CommandOutput json = ErrorOutput(status, /*json=*/true);
  EXPECT_EQ(json.exit_code, 9);
  EXPECT_EQ(json.out, "");
  EXPECT_EQ(json.err,
            "{\"code\":9,\"status\":\"FAILED_PRECONDITION\","
            "\"message\":\"cannot open --token_file /x \\\"y\\\"\"}\n");
}

TEST(TokenctlCommands, UsageErrorOutputExitsUsageCode) {
  CommandOutput text = UsageErrorOutput("--max_attempts must be at least 1",
                                        /*json=*/false);
  EXPECT_EQ(text.exit_code, kUsageExitCode);
  EXPECT_EQ(text.err, "tokenctl: --max_attempts must be at least 1\n");
  CommandOutput json = UsageErrorOutput("--max_attempts must be at least 1",
                                        /*json=*/true);
  EXPECT_EQ(json.exit_code, kUsageExitCode);
  EXPECT_EQ(json.err,
            "{\"code\":64,\"status\":\"USAGE\","
            "\"message\":\"--max_attempts must be at least 1\"}\n");
}

TEST_F(TokenctlCommandsTest, ListAllFollowsEveryPage) {
  args_.page_size = 1;
  CommandOutput one = Run("list");
  EXPECT_THAT(one.out, HasSubstr("next_page_token: page-2"));
  args_.all_pages = true;
  CommandOutput all = Run("list");
  EXPECT_EQ(all.exit_code, 0) << all.err;
  EXPECT_THAT(all.out, HasSubstr("fingerprint: 00112233aabbccdd"));
  EXPECT_THAT(all.out, HasSubstr("fingerprint: ffeeddccbbaa9988"));
  EXPECT_THAT(all.out, Not(HasSubstr("next_page_token")));
  EXPECT_EQ(service_.calls(), 3);
}

// What grpcurl shows of an error, tokenctl shows too.
TEST_F(TokenctlCommandsTest, ErrorsShowTheReasonAndTheDetails) {
  google::rpc::ErrorInfo info;
  info.set_reason("UPSTREAM_RATE_LIMITED");
  info.set_domain("tokenservice");
  (*info.mutable_metadata())["http_status"] = "429";
  google::rpc::RetryInfo retry;
  retry.mutable_retry_delay()->set_seconds(3);
  google::rpc::Status details;
  details.set_code(grpc::UNAVAILABLE);
  details.set_message("myPOS is busy");
  details.add_details()->PackFrom(info);
  details.add_details()->PackFrom(retry);
  const grpc::Status failure(grpc::UNAVAILABLE, "myPOS is busy",
                             details.SerializeAsString());

  service_.FailNext(1, failure);
  CommandOutput text = Run("issue");
  EXPECT_EQ(text.exit_code, 14);
  EXPECT_THAT(text.err, HasSubstr("tokenctl: UNAVAILABLE: myPOS is busy\n"));
  EXPECT_THAT(text.err, HasSubstr("reason: UPSTREAM_RATE_LIMITED"));
  EXPECT_THAT(text.err, HasSubstr("http_status"));
  EXPECT_THAT(text.err, HasSubstr("retry_delay: 3s"));

  args_.json = true;
  service_.FailNext(1, failure);
  CommandOutput json = Run("issue");
  EXPECT_EQ(json.exit_code, 14);
  EXPECT_THAT(json.err,
              HasSubstr("\"details\":[{\"@type\":\"type.googleapis.com/"
                        "google.rpc.ErrorInfo\",\"reason\":"
                        "\"UPSTREAM_RATE_LIMITED\""));
  EXPECT_THAT(json.err, HasSubstr("\"retry_delay\":\"3s\""));
}

TEST_F(TokenctlCommandsTest, EmitDefaultsPrintsFieldsAtTheirDefault) {
  args_.json = true;
  args_.fingerprint = "00112233aabbccdd";
  EXPECT_THAT(Run("info").out, Not(HasSubstr("\"hit_count\"")));
  args_.emit_defaults = true;
  CommandOutput out = Run("info");
  EXPECT_THAT(out.out, HasSubstr("\"hit_count\":\"0\""));
  EXPECT_THAT(out.out, HasSubstr("\"credential\":\"\""));
}

}  // namespace
}  // namespace tokenservice
