// The log lines operators search by: every upstream call and every failed
// RPC names the profile, the token's fingerprint where there is one, the
// duration and the outcome (docs/operations.md).

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/fingerprint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/ops/log.h"
#include "tests/integration/service_harness.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Field(const std::string& name, const std::string& value) {
  return absl::StrCat("\"", name, "\":\"", value, "\"");
}

class LogFieldsTest : public ServiceHarness {
 protected:
  void SetUp() override {
    StartFake();
    StartServer();
  }
};

TEST_F(LogFieldsTest, UpstreamTokenIssuedNamesProfileFingerprintAndOutcome) {
  IssueCall call = Issue(ScopeRequest("payments"));
  ASSERT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_THAT(
      LogLines("upstream_token_issued"),
      ElementsAre(AllOf(
          HasSubstr(Field("profile", "default")),
          HasSubstr(Field("fingerprint", call.response.fingerprint())),
          HasSubstr("\"duration_ms\":"), HasSubstr(Field("code", "OK")))));
}

TEST_F(LogFieldsTest, FailedUpstreamCallAndFailedRpcNameProfileAndOutcome) {
  fake_->EnqueueTokenFault({400, R"({"error":"invalid_client"})"});
  IssueCall call = Issue(ScopeRequest("payments"));
  ASSERT_EQ(call.status.error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_THAT(
      LogLines("upstream_token_failed"),
      ElementsAre(AllOf(HasSubstr(Field("profile", "default")),
                        HasSubstr("\"duration_ms\":"),
                        HasSubstr(Field("code", "FAILED_PRECONDITION")))));
  // The server's (or myPOS's) fault, not the caller's: WARNING.
  EXPECT_THAT(LogLines("rpc_failed"),
              ElementsAre(AllOf(HasSubstr(Field("method", "Issue")),
                                HasSubstr(Field("severity", "WARNING")),
                                HasSubstr("\"duration_ms\":"),
                                HasSubstr(Field("code", "FAILED_PRECONDITION")),
                                Not(HasSubstr("\"fingerprint\"")))));
}

TEST_F(LogFieldsTest, FailedRpcNamingATokenLogsItsFingerprint) {
  const std::string fingerprint = Fingerprint("canary-never-issued");
  AddCanary("canary-never-issued");
  grpc::ClientContext by_fingerprint;
  v1::RevokeRequest revoke;
  revoke.set_fingerprint(fingerprint);
  v1::RevokeResponse revoked;
  ASSERT_EQ(stub_->Revoke(&by_fingerprint, revoke, &revoked).error_code(),
            grpc::NOT_FOUND);
  grpc::ClientContext info_context;
  v1::GetTokenInfoRequest info_request;
  info_request.set_fingerprint(fingerprint);
  v1::TokenInfo info;
  ASSERT_EQ(
      stub_->GetTokenInfo(&info_context, info_request, &info).error_code(),
      grpc::NOT_FOUND);
  // Revoking by value at a myPOS that refuses: the line has the
  // fingerprint, never the value.
  fake_->EnqueueRevokeFault({503, "{}"});
  fake_->EnqueueRevokeFault({503, "{}"});
  fake_->EnqueueRevokeFault({503, "{}"});
  grpc::ClientContext by_value;
  revoke.set_token("canary-never-issued");
  ASSERT_EQ(stub_->Revoke(&by_value, revoke, &revoked).error_code(),
            grpc::UNAVAILABLE);

  // The Revokes are audit lines, whatever their outcome; GetTokenInfo's
  // failure an rpc_failed one (NOT_FOUND: the caller's, so INFO).
  const std::vector<std::string> audit = LogLines("revoke_audit");
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_THAT(audit[0], AllOf(HasSubstr(Field("method", "Revoke")),
                              HasSubstr(Field("fingerprint", fingerprint)),
                              HasSubstr(Field("code", "NOT_FOUND"))));
  EXPECT_THAT(audit[1], AllOf(HasSubstr(Field("method", "Revoke")),
                              HasSubstr(Field("fingerprint", fingerprint)),
                              HasSubstr(Field("severity", "WARNING")),
                              HasSubstr(Field("code", "UNAVAILABLE"))));
  EXPECT_THAT(LogLines("rpc_failed"),
              ElementsAre(AllOf(HasSubstr(Field("method", "GetTokenInfo")),
                                HasSubstr(Field("severity", "INFO")),
                                HasSubstr(Field("fingerprint", fingerprint)))));
}

// Every RPC line says who called, from where, and in which trace.
TEST_F(LogFieldsTest, RpcLinesNameTheCallerPeerAndTraceId) {
  constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
  grpc::ClientContext traced;
  traced.AddMetadata("traceparent",
                     absl::StrCat("00-", kTraceId, "-00f067aa0ba902b7-01"));
  v1::IssueRequest request;
  request.set_credential("nobody");
  v1::IssueResponse response;
  ASSERT_EQ(stub_->Issue(&traced, request, &response).error_code(),
            grpc::NOT_FOUND);
  grpc::ClientContext malformed;
  malformed.AddMetadata("traceparent", "00-not-a-trace");
  ASSERT_EQ(stub_->Issue(&malformed, request, &response).error_code(),
            grpc::NOT_FOUND);
  const std::vector<std::string> lines = LogLines("rpc_failed");
  ASSERT_EQ(lines.size(), 2u);
  // No callers are configured here: anyone may call.
  EXPECT_THAT(lines[0],
              AllOf(HasSubstr(Field("caller", "(any)")),
                    HasSubstr("\"peer\":\"ipv4:127.0.0.1:"),
                    HasSubstr(Field("trace_id", kTraceId)),
                    HasSubstr(Field("message", "Issue failed: NOT_FOUND"))));
  EXPECT_THAT(lines[1], AllOf(HasSubstr(Field("caller", "(any)")),
                              Not(HasSubstr("trace_id"))));
}

TEST_F(LogFieldsTest, ASuccessfulRevokeIsAnAuditLine) {
  IssueCall call = Issue(ScopeRequest("payments"));
  ASSERT_TRUE(call.status.ok()) << call.status.error_message();
  grpc::ClientContext context;
  v1::RevokeRequest revoke;
  revoke.set_fingerprint(call.response.fingerprint());
  v1::RevokeResponse revoked;
  ASSERT_TRUE(stub_->Revoke(&context, revoke, &revoked).ok());
  EXPECT_THAT(
      LogLines("revoke_audit"),
      ElementsAre(AllOf(
          HasSubstr(Field("severity", "INFO")), HasSubstr(Field("code", "OK")),
          HasSubstr(Field("caller", "(any)")),
          HasSubstr(Field("fingerprint", call.response.fingerprint())))));
}

// An audit line for a Revoke of nothing is bounded like a failure: a flood
// of them cannot flood the log (while one that revoked never is held back).
TEST_F(LogFieldsTest, AFloodOfRevokesOfNothingCannotFloodTheLog) {
  constexpr int kCalls = 500;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kCalls; ++i) {
    grpc::ClientContext context;
    v1::RevokeRequest request;
    request.set_fingerprint("0123456789abcdef");
    v1::RevokeResponse response;
    ASSERT_EQ(stub_->Revoke(&context, request, &response).error_code(),
              grpc::NOT_FOUND);
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const size_t audit = LogLines("revoke_audit").size();
  EXPECT_LE(audit, 50 * (static_cast<size_t>(seconds) + 2));
  EXPECT_LT(audit, static_cast<size_t>(kCalls));
  EXPECT_GT(audit, 0u);
}

TEST_F(LogFieldsTest, DebugLevelLogsEveryCall) {
  SetMinLogLevel(LogLevel::kDebug);
  IssueCall call = Issue(ScopeRequest("payments"));
  SetMinLogLevel(LogLevel::kInfo);
  ASSERT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_THAT(LogLines("rpc_done"),
              ElementsAre(AllOf(HasSubstr(Field("severity", "DEBUG")),
                                HasSubstr(Field("method", "Issue")),
                                HasSubstr(Field("code", "OK")))));
}

TEST_F(LogFieldsTest, SomethingElseInTheFingerprintFieldIsNotLogged) {
  // A caller who puts a token where a fingerprint goes gets
  // INVALID_ARGUMENT, and the value is not logged.
  AddCanary("canary-token-in-the-wrong-field");
  grpc::ClientContext context;
  v1::GetTokenInfoRequest request;
  request.set_fingerprint("canary-token-in-the-wrong-field");
  v1::TokenInfo info;
  ASSERT_EQ(stub_->GetTokenInfo(&context, request, &info).error_code(),
            grpc::INVALID_ARGUMENT);
  EXPECT_THAT(LogLines("rpc_failed"),
              ElementsAre(Not(HasSubstr("\"fingerprint\""))));
}

TEST_F(LogFieldsTest, AFloodOfFailingCallsCannotFloodTheLog) {
  // Before: each Revoke logged its unvalidated ~60 KB credential, and
  // 20,000 such calls grew the log by 1.1 GiB in 14 s.
  const std::string huge = "flood-" + std::string(60000, 'p') + "\n\x01";
  constexpr int kCalls = 2000;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kCalls; ++i) {
    grpc::ClientContext context;
    v1::RevokeRequest request;
    request.set_credential(huge);
    request.set_fingerprint("0123456789abcdef");
    v1::RevokeResponse response;
    ASSERT_EQ(stub_->Revoke(&context, request, &response).error_code(),
              grpc::INVALID_ARGUMENT);
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const std::vector<std::string> failed = LogLines("rpc_failed");
  // At most 50 lines a second (and one summary a second) get through, each
  // with the caller's string cut to 64 characters of printable ASCII.
  EXPECT_LE(failed.size(), 50 * (static_cast<size_t>(seconds) + 2));
  EXPECT_LT(failed.size(), static_cast<size_t>(kCalls));
  for (const std::string& line : failed) {
    EXPECT_LT(line.size(), 1024u);
    EXPECT_THAT(line, HasSubstr(Field(
                          "profile", "flood-" + std::string(58, 'p') + "...")));
  }
}

}  // namespace
}  // namespace tokenservice
