// A thundering herd on loopback: 1,000 concurrent Issue calls for a cold key
// while the fake myPOS takes 50 ms per reply. One upstream request serves
// them all, and every caller gets the same token.

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fake_mypos/fake_mypos_server.h"
#include "gtest/gtest.h"
#include "proto/token_service.grpc.pb.h"
#include "server/token_server.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;

constexpr int kCallers = 1000;
constexpr int kChannels = 8;

struct Call {
  grpc::ClientContext context;
  v1::IssueRequest request;
  v1::IssueResponse response;
  grpc::Status status;
};

FakeMyposServer::Options FakeOptions() {
  FakeMyposServer::Options options;
  options.clients = {{"client", "secret"}};
  return options;
}

// TokenServer on loopback in front of `fake`.
absl::StatusOr<std::unique_ptr<TokenServer>> StartServer(
    const FakeMyposServer& fake) {
  ServerConfig config;
  config.listen_address = "127.0.0.1:0";
  config.token_url = fake.BaseUrl() + "/oauth/token";
  config.revoke_url = fake.BaseUrl() + "/oauth/revoke";
  config.profiles = {{"default", {"client", "secret"}}};
  return TokenServer::Start(config);
}

TEST(Stampede, ThousandColdCallersShareOneUpstreamRequest) {
  FakeMyposServer fake(FakeOptions());
  ASSERT_TRUE(fake.Start().ok());
  fake.SetLatency(absl::Milliseconds(50));
  auto server = StartServer(fake);
  ASSERT_TRUE(server.ok()) << server.status();

  std::vector<std::unique_ptr<v1::TokenService::Stub>> stubs;
  for (int i = 0; i < kChannels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("tokenservice.test.channel", i);  // one connection each
    stubs.push_back(v1::TokenService::NewStub(
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                                  grpc::InsecureChannelCredentials(), args)));
  }

  std::mutex mu;
  std::condition_variable all_done;
  int done = 0;
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < kCallers; ++i) {
    auto call = std::make_unique<Call>();
    call->context.set_deadline(
        absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    call->request.add_scopes("webhooks");
    calls.push_back(std::move(call));
  }
  for (int i = 0; i < kCallers; ++i) {
    Call* call = calls[i].get();
    stubs[i % kChannels]->async()->Issue(&call->context, &call->request,
                                         &call->response,
                                         [&, call](grpc::Status status) {
                                           std::lock_guard<std::mutex> lock(mu);
                                           call->status = std::move(status);
                                           if (++done == kCallers)
                                             all_done.notify_one();
                                         });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    all_done.wait(lock, [&] { return done == kCallers; });
  }

  std::set<std::string> tokens;
  int failed = 0;
  for (const auto& call : calls) {
    if (!call->status.ok()) {
      ++failed;
      continue;
    }
    tokens.insert(call->response.access_token());
  }
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(tokens.size(), 1u);
  EXPECT_EQ(fake.token_requests(), 1);
}

TEST(Stampede, CallerGivingUpDoesNotCancelTheSharedFetch) {
  FakeMyposServer fake(FakeOptions());
  ASSERT_TRUE(fake.Start().ok());
  fake.SetLatency(absl::Milliseconds(300));
  auto server = StartServer(fake);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::TokenService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                          grpc::InsecureChannelCredentials()));

  // The impatient caller starts the fetch, then its deadline passes.
  Call impatient, patient;
  impatient.context.set_deadline(
      absl::ToChronoTime(absl::Now() + absl::Milliseconds(50)));
  patient.context.set_deadline(
      absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  auto finish = [&](Call* call) {
    return [&, call](grpc::Status status) {
      std::lock_guard<std::mutex> lock(mu);
      call->status = std::move(status);
      ++done;
      cv.notify_one();
    };
  };
  stub->async()->Issue(&impatient.context, &impatient.request,
                       &impatient.response, finish(&impatient));
  stub->async()->Issue(&patient.context, &patient.request, &patient.response,
                       finish(&patient));
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done == 2; });
  }
  EXPECT_EQ(impatient.status.error_code(), grpc::DEADLINE_EXCEEDED);
  ASSERT_TRUE(patient.status.ok()) << patient.status.error_message();
  EXPECT_FALSE(patient.response.access_token().empty());
  // One request, or two when the impatient caller happened to start the
  // fetch (its deadline bounds that request; the patient one gets its own).
  EXPECT_GE(fake.token_requests(), 1);
  EXPECT_LE(fake.token_requests(), 2);
}

}  // namespace
}  // namespace tokenservice
