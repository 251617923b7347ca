// The example service's request path against the real TokenService and the
// fake myPOS: a cached token per request, and 401 -> report -> retry when
// myPOS has dropped the token behind TokenService's back.

#include "examples/mypos_api_client.h"

#include <httplib.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/mypos_test_env.h"

namespace tokenservice {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class MyposApiClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env_.Start().ok());
    ChannelOptions channel;
    channel.target = env_.target();
    auto tokens = TokenClient::Create(channel, TokenClient::Options());
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    tokens_ = *std::move(tokens);
    api_ =
        std::make_unique<MyposApiClient>(tokens_.get(), key_, env_.mypos_url());
  }

  MyposTestEnv env_;
  const TokenKey key_{"", {"webhooks"}};
  std::unique_ptr<TokenClient> tokens_;
  std::unique_ptr<MyposApiClient> api_;
};

TEST_F(MyposApiClientTest, GetUsesOneCachedTokenForManyRequests) {
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<MyposApiClient::Response> r = api_->Get("/api/ping");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "{\"ok\":true}");
  }
  EXPECT_EQ(env_.fake().token_requests(), 1);
  EXPECT_EQ(api_->rejections_reported(), 0);
}

TEST_F(MyposApiClientTest, RejectedTokenIsReportedAndRequestRetried) {
  ASSERT_TRUE(api_->Get("/api/ping").ok());
  auto token = tokens_->GetToken(key_);
  ASSERT_TRUE(token.ok());
  ASSERT_TRUE(env_.RevokeAtMypos((*token)->access_token));

  absl::StatusOr<MyposApiClient::Response> r = api_->Get("/api/ping");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(api_->rejections_reported(), 1);
  EXPECT_EQ(env_.fake().token_requests(), 2);
  EXPECT_NE((*tokens_->GetToken(key_))->access_token, (*token)->access_token);
}

TEST_F(MyposApiClientTest, ConcurrentRejectionsShareOneRefresh) {
  ASSERT_TRUE(api_->Get("/api/ping").ok());
  ASSERT_TRUE(env_.RevokeAtMypos((*tokens_->GetToken(key_))->access_token));
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      auto r = api_->Get("/api/ping");
      if (r.ok() && r->status == 200) ++ok;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 6);
  EXPECT_EQ(env_.fake().token_requests(), 2);  // one refresh for all
}

TEST_F(MyposApiClientTest, OtherStatusesAreReturnedWithoutRetry) {
  absl::StatusOr<MyposApiClient::Response> r = api_->Get("/api/nothing");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(api_->rejections_reported(), 0);
}

TEST_F(MyposApiClientTest, ReplacementRejectedTooIsUnauthenticated) {
  httplib::Server always_401;  // an API that accepts no token at all
  std::atomic<int> requests{0};
  always_401.Get("/api/ping",
                 [&](const httplib::Request&, httplib::Response& res) {
                   ++requests;
                   res.status = 401;
                 });
  const int port = always_401.bind_to_any_port("127.0.0.1");
  // Connections queue from bind on; the request below is served once the
  // thread listens, so stop() then finds the server running.
  std::thread serving([&] { always_401.listen_after_bind(); });
  MyposApiClient api(tokens_.get(), key_,
                     "http://127.0.0.1:" + std::to_string(port));
  absl::StatusOr<MyposApiClient::Response> r = api.Get("/api/ping");
  always_401.stop();
  serving.join();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(requests.load(), 2);  // the request and one retry
  auto token = tokens_->GetToken(key_);
  ASSERT_TRUE(token.ok());
  EXPECT_THAT(r.status().message(), Not(HasSubstr((*token)->access_token)));
  EXPECT_THAT(r.status().message(), HasSubstr((*token)->fingerprint));
}

TEST_F(MyposApiClientTest, UnreachableApiIsUnavailable) {
  MyposApiClient api(tokens_.get(), key_, "http://127.0.0.1:1");
  EXPECT_EQ(api.Get("/api/ping").status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tokenservice
