// Bytes that are no valid request, sent as they are (grpc::GenericStub):
// after the caller is authenticated, every RPC answers INVALID_ARGUMENT with
// ErrorInfo, counts it and logs it like any other failure. gRPC's own
// parsing answered UNIMPLEMENTED with no details, uncounted and unlogged.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/fingerprint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/rpc/caller_policy.h"
#include "tests/integration/service_harness.h"
#include "tests/testing/status_matchers.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kKey[] = "canary-raw-caller-key-1e9b";

// A string field (number 1) holding invalid UTF-8, and a length that runs
// past the end of the bytes.
const std::string kInvalidUtf8("\x0a\x02\xff\xfe", 4);
const std::string kTruncated(
    "\x0a\x05"
    "a",
    3);

class RawRequestsTest : public ServiceHarness {
 protected:
  void SetUp() override {
    StartFake();
    StartServer([](ServerConfig& config) {
      config.callers = {{"raw",
                         {},
                         CallerPolicy::KeyDigest(kKey),
                         {"*"},
                         /*may_revoke=*/true,
                         /*may_read_metadata=*/true}};
    });
    AddCanary(kKey);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
  }

  grpc::Status Call(const std::string& method, const std::string& bytes,
                    bool with_key = true) {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext context;
    if (with_key) context.AddMetadata(kCallerKeyMetadata, kKey);
    grpc::Slice slice(bytes.data(), bytes.size());
    grpc::ByteBuffer request(&slice, 1), response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, "/mypos.token.v1.TokenService/" + method,
                   grpc::StubOptions(), &request, &response,
                   [&done](grpc::Status s) { done.set_value(s); });
    return done.get_future().get();
  }

  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(RawRequestsTest, UnparsableBytesAreInvalidArgumentForEveryRpc) {
  for (const char* method :
       {"Issue", "ExchangeGrant", "Revoke", "GetTokenInfo", "ListTokens"}) {
    for (const std::string& bytes : {kInvalidUtf8, kTruncated}) {
      EXPECT_THAT(Call(method, bytes),
                  GrpcStatusIs(grpc::INVALID_ARGUMENT, "INVALID_REQUEST"))
          << method;
    }
  }
  // Logged like any failure: two per RPC.
  EXPECT_EQ(LogEvents("rpc_failed"), 10);
}

// Issue parses into a message each gRPC thread reuses: an unknown caller,
// whose bytes are never parsed, must not be logged with what the request
// before it on that thread named.
TEST_F(RawRequestsTest, AnUnknownCallersLineNamesNothingOfAnEarlierRequest) {
  const std::string fingerprint = Fingerprint("canary-earlier-request-token");
  AddCanary("canary-earlier-request-token");
  v1::IssueRequest earlier;
  earlier.set_credential("default");
  earlier.add_scopes("payments");
  earlier.set_rejected_fingerprint(fingerprint);
  // gRPC picks the thread: enough pairs that the unknown callers' calls
  // run where an earlier request was parsed.
  constexpr int kPairs = 20;
  for (int i = 0; i < kPairs; ++i) {
    ASSERT_TRUE(Call("Issue", earlier.SerializeAsString()).ok());
    ASSERT_THAT(Call("Issue", "", /*with_key=*/false),
                GrpcStatusIs(grpc::UNAUTHENTICATED, "UNAUTHENTICATED"));
  }
  const std::vector<std::string> lines = LogLines("rpc_failed");
  ASSERT_EQ(lines.size(), static_cast<size_t>(kPairs));
  for (const std::string& line : lines) {
    EXPECT_THAT(line, AllOf(HasSubstr("\"code\":\"UNAUTHENTICATED\""),
                            HasSubstr("\"profile\":\"\""),
                            Not(HasSubstr("\"fingerprint\""))));
  }
}

TEST_F(RawRequestsTest, AnUnknownCallerLearnsNothingAboutItsBytes) {
  for (const char* method :
       {"Issue", "ExchangeGrant", "Revoke", "GetTokenInfo", "ListTokens"}) {
    EXPECT_THAT(Call(method, kInvalidUtf8, /*with_key=*/false),
                GrpcStatusIs(grpc::UNAUTHENTICATED, "UNAUTHENTICATED"))
        << method;
  }
}

}  // namespace
}  // namespace tokenservice
