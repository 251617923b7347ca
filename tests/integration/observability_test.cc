// The admin port and graceful drain, on loopback against the fake myPOS:
// /metrics parses and counts what happened, /healthz follows the drain, and
// a call in flight when shutdown starts still completes.

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "base/mutex.h"
#include "fake_mypos/fake_mypos_server.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "proto/token_service.grpc.pb.h"
#include "server/ops/error_reason.h"
#include "server/token_server.h"
#include "server/upstream/curl_http_transport.h"
#include "tests/testing/status_matchers.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;

// Passes requests to libcurl, but first tells the test that one arrived and
// waits until the test lets it go: a call held in flight on demand.
// Holds every request at "myPOS" until Release(), then passes them (and
// later ones) to libcurl; Shutdown() ends held ones as the real one would.
class GatedTransport : public HttpTransport {
 public:
  GatedTransport() : real_(CurlHttpTransport::Options{}) {}

  void Post(HttpRequest request, HttpCallback done) override {
    {
      MutexLock lock(&mu_);
      if (!released_) {
        held_.emplace_back(std::move(request), std::move(done));
        if (held_.size() == 1) arrived_.Notify();
        return;
      }
    }
    real_.Post(std::move(request), std::move(done));
  }

  void Shutdown() override {
    for (auto& [request, done] : TakeHeld()) {
      std::move(done)(WithReason(absl::UnavailableError("shutting down"),
                                 kReasonServerShuttingDown));
    }
    real_.Shutdown();
  }

  void WaitForArrival() { arrived_.WaitForNotification(); }
  void Release() {
    {
      MutexLock lock(&mu_);
      released_ = true;
    }
    for (auto& [request, done] : TakeHeld()) {
      real_.Post(std::move(request), std::move(done));
    }
  }
  size_t held() {
    MutexLock lock(&mu_);
    return held_.size();
  }

 private:
  std::vector<std::pair<HttpRequest, HttpCallback>> TakeHeld() {
    MutexLock lock(&mu_);
    return std::exchange(held_, {});
  }

  CurlHttpTransport real_;
  absl::Notification arrived_;
  Mutex mu_;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::pair<HttpRequest, HttpCallback>> held_ ABSL_GUARDED_BY(mu_);
};

class ObservabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeMyposServer::Options options;
    options.clients = {{"client", "secret"}};
    fake_ = std::make_unique<FakeMyposServer>(options);
    ASSERT_TRUE(fake_->Start().ok());
  }

  void StartServer(std::shared_ptr<HttpTransport> transport = nullptr) {
    ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    config.admin_listen_address = "127.0.0.1:0";
    config.token_url = fake_->BaseUrl() + "/oauth/token";
    config.revoke_url = fake_->BaseUrl() + "/oauth/revoke";
    config.profiles = {{"default", {"client", "secret"}}};
    auto server = TokenServer::Start(config, std::move(transport));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::TokenService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                            grpc::InsecureChannelCredentials()));
    admin_ =
        std::make_unique<httplib::Client>("127.0.0.1", server_->admin_port());
  }

  grpc::Status Issue(v1::IssueResponse* response) {
    grpc::ClientContext context;
    return stub_->Issue(&context, v1::IssueRequest(), response);
  }

  // The grpc_server_handled_total series of TokenService's `method` and
  // `code` (as gRPC's Go library names codes).
  static std::string Handled(const std::string& method,
                             const std::string& code) {
    return absl::StrCat("grpc_server_handled_total{grpc_code=\"", code,
                        "\",grpc_method=\"", method,
                        "\",grpc_service=\"mypos.token.v1.TokenService\","
                        "grpc_type=\"unary\"}");
  }
  inline static const std::string kIssueLabels =
      "grpc_method=\"Issue\",grpc_service=\"mypos.token.v1.TokenService\","
      "grpc_type=\"unary\"";

  // The /metrics samples as series -> value; every line must parse.
  std::map<std::string, double> Scrape() {
    auto res = admin_->Get("/metrics");
    EXPECT_TRUE(res && res->status == 200);
    std::map<std::string, double> samples;
    for (absl::string_view line :
         absl::StrSplit(res->body, '\n', absl::SkipEmpty())) {
      if (line[0] == '#') continue;
      const size_t space = line.rfind(' ');
      double value;
      EXPECT_TRUE(space != absl::string_view::npos &&
                  absl::SimpleAtod(line.substr(space + 1), &value))
          << line;
      samples[std::string(line.substr(0, space))] = value;
    }
    return samples;
  }

  std::unique_ptr<FakeMyposServer> fake_;
  std::unique_ptr<TokenServer> server_;
  std::unique_ptr<v1::TokenService::Stub> stub_;
  std::unique_ptr<httplib::Client> admin_;
};

TEST_F(ObservabilityTest, MetricsCountRpcsCacheAndUpstream) {
  StartServer();
  v1::IssueResponse first, second;
  ASSERT_TRUE(Issue(&first).ok());
  ASSERT_TRUE(Issue(&second).ok());
  auto s = Scrape();
  EXPECT_EQ(s[Handled("Issue", "OK")], 2);
  EXPECT_EQ(s["grpc_server_started_total{" + kIssueLabels + "}"], 2);
  EXPECT_EQ(s["grpc_server_handling_seconds_count{" + kIssueLabels + "}"], 2);
  EXPECT_EQ(s["tokenservice_cache_hits_total"], 1);
  EXPECT_EQ(s["tokenservice_cache_misses_total"], 1);
  EXPECT_EQ(s["tokenservice_upstream_requests_total{code=\"OK\",kind=\"token\","
              "profile=\"default\"}"],
            1);
  EXPECT_EQ(s["tokenservice_upstream_duration_seconds_count{kind=\"token\"}"],
            1);
  EXPECT_EQ(s["tokenservice_upstream_http_attempts_total{reason=\"OK\","
              "status_class=\"2xx\",upstream_endpoint=\"token\"}"],
            1);
  EXPECT_EQ(s["tokenservice_fetch_waiters"], 0);
  EXPECT_EQ(s["tokenservice_short_validity_served_total"], 0);
  EXPECT_EQ(s["tokenservice_serving"], 1);
  const std::string expiry =
      "tokenservice_token_expiry_timestamp_seconds{profile=\"default\","
      "scopes=\"\"}";
  ASSERT_EQ(s.count(expiry), 1u);
  EXPECT_NEAR(s[expiry],
              first.expire_time().seconds() + first.expire_time().nanos() / 1e9,
              1e-3);
  // Neither the token nor its fingerprint is exposed (a label per token
  // would churn on every refresh).
  const std::string body = admin_->Get("/metrics")->body;
  ASSERT_FALSE(first.fingerprint().empty());
  EXPECT_EQ(body.find(first.access_token()), std::string::npos);
  EXPECT_EQ(body.find(first.fingerprint()), std::string::npos);
}

TEST_F(ObservabilityTest, GrpcFamiliesCoverEveryMethodFromTheFirstScrape) {
  StartServer();
  auto s = Scrape();
  struct Method {
    const char* service;
    const char* method;
    const char* type;
  };
  const Method methods[] = {
      {"mypos.token.v1.TokenService", "Issue", "unary"},
      {"mypos.token.v1.TokenService", "Revoke", "unary"},
      {"mypos.token.v1.TokenService", "GetTokenInfo", "unary"},
      {"mypos.token.v1.TokenService", "ListTokens", "unary"},
      {"mypos.token.v1.TokenService", "ExchangeGrant", "unary"},
      {"grpc.health.v1.Health", "Check", "unary"},
      {"grpc.health.v1.Health", "Watch", "server_stream"},
      {"grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo",
       "bidi_stream"},
      {"unknown", "unknown", "unknown"},
  };
  for (const Method& m : methods) {
    const std::string labels =
        absl::StrCat("grpc_method=\"", m.method, "\",grpc_service=\"",
                     m.service, "\",grpc_type=\"", m.type, "\"");
    EXPECT_EQ(s.count("grpc_server_started_total{" + labels + "}"), 1u)
        << labels;
    EXPECT_EQ(s.count("grpc_server_handling_seconds_count{" + labels + "}"), 1u)
        << labels;
    for (const char* code :
         {"OK", "Canceled", "InvalidArgument", "DeadlineExceeded",
          "PermissionDenied", "ResourceExhausted", "Unimplemented", "Internal",
          "Unavailable", "Unauthenticated"}) {
      const std::string series = absl::StrCat(
          "grpc_server_handled_total{grpc_code=\"", code, "\",", labels, "}");
      ASSERT_EQ(s.count(series), 1u) << series;
      EXPECT_EQ(s[series], 0) << series;
    }
  }
}

TEST_F(ObservabilityTest, GrpcFamiliesCountHealthUnknownMethodsAndRefusals) {
  StartServer();
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                          grpc::InsecureChannelCredentials());
  {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(
        grpc::health::v1::Health::NewStub(channel)
            ->Check(&context, grpc::health::v1::HealthCheckRequest(), &response)
            .ok());
  }
  {
    // A method the server does not have: counted, but under "unknown", as
    // the caller chooses its name.
    grpc::GenericStub generic(channel);
    grpc::ClientContext context;
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1), response;
    std::promise<grpc::Status> done;
    generic.UnaryCall(&context, "/no.such.Service/Method", grpc::StubOptions(),
                      &request, &response,
                      [&done](grpc::Status status) { done.set_value(status); });
    EXPECT_EQ(done.get_future().get().error_code(), grpc::UNIMPLEMENTED);
  }
  {
    // A service the health checker does not know: refused by gRPC's own
    // health service. (A request over kMaxRequestBytes is refused by gRPC's
    // core before any call exists: no handler or interceptor sees it, and
    // gRPC 1.51 counts it nowhere we can read.)
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service("no.such.Service");
    grpc::health::v1::HealthCheckResponse response;
    EXPECT_FALSE(grpc::health::v1::Health::NewStub(channel)
                     ->Check(&context, request, &response)
                     .ok());
  }
  auto s = Scrape();
  EXPECT_EQ(
      s["grpc_server_handled_total{grpc_code=\"OK\",grpc_method=\"Check\","
        "grpc_service=\"grpc.health.v1.Health\",grpc_type=\"unary\"}"],
      1);
  EXPECT_EQ(s["grpc_server_handled_total{grpc_code=\"Unimplemented\","
              "grpc_method=\"unknown\",grpc_service=\"unknown\","
              "grpc_type=\"unknown\"}"],
            1);
  const std::string check =
      ",grpc_method=\"Check\",grpc_service=\"grpc.health.v1.Health\","
      "grpc_type=\"unary\"}";
  EXPECT_EQ(s["grpc_server_handled_total{grpc_code=\"NotFound\"" + check], 1);
  for (const auto& [series, value] : s) {
    EXPECT_EQ(series.find("no.such"), std::string::npos) << series;
  }
}

TEST_F(ObservabilityTest, ServingGaugeFollowsTheDrain) {
  StartServer();
  EXPECT_EQ(Scrape()["tokenservice_serving"], 1);
  server_->BeginDrain();
  EXPECT_EQ(Scrape()["tokenservice_serving"], 0);
}

// A WatchRevocations stream never ends by itself; the shutdown ends it
// with UNAVAILABLE (its client reconnects to another replica) instead of
// waiting out its grace for it.
TEST_F(ObservabilityTest, ShutdownEndsRevocationStreams) {
  StartServer();
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::RevocationBatch>> reader =
      stub_->WatchRevocations(&context, v1::WatchRevocationsRequest());
  v1::RevocationBatch batch;
  ASSERT_TRUE(reader->Read(&batch));  // live
  EXPECT_EQ(batch.fingerprints_size(), 0);
  std::thread stop(
      [this] { server_->Shutdown(absl::Now() + absl::Seconds(60)); });
  EXPECT_FALSE(reader->Read(&batch));
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::UNAVAILABLE);
  EXPECT_NE(status.error_message().find("shutting down"), std::string::npos)
      << status.error_message();
  stop.join();
}

TEST_F(ObservabilityTest, InFlightCallCompletesDuringDrain) {
  auto transport = std::make_shared<GatedTransport>();
  StartServer(transport);
  EXPECT_EQ(admin_->Get("/healthz")->status, 200);

  grpc::ClientContext context;
  v1::IssueRequest request;
  v1::IssueResponse response;
  std::promise<grpc::Status> finished;
  stub_->async()->Issue(&context, &request, &response,
                        [&finished](grpc::Status s) { finished.set_value(s); });
  transport->WaitForArrival();  // the call is now in flight at "myPOS"

  std::thread drain(
      [this] { server_->Shutdown(absl::Now() + absl::Seconds(30)); });
  // Draining: the admin health check turns unhealthy at once...
  // (The drain thread flips it; this loop waits for that, not for time.)
  int health = 200;
  while (health == 200) {
    auto res = admin_->Get("/healthz");
    ASSERT_TRUE(res);
    health = res->status;
  }
  EXPECT_EQ(health, 503);
  // ...new calls are refused while the one in flight is still held (this
  // loop ends when the listener has stopped taking calls)...
  grpc::Status refused;
  do {
    grpc::ClientContext list_context;
    v1::ListTokensResponse list;
    refused = stub_->ListTokens(&list_context, v1::ListTokensRequest(), &list);
  } while (refused.ok());
  // UNAVAILABLE once the listener is gone; CANCELLED for a call that
  // reached the server as its shutdown began.
  EXPECT_TRUE(refused.error_code() == grpc::UNAVAILABLE ||
              refused.error_code() == grpc::CANCELLED)
      << refused.error_code();
  // ...and the call in flight still completes.
  transport->Release();
  grpc::Status status = finished.get_future().get();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(response.access_token().empty());
  drain.join();

  // Once drained, new calls are refused.
  v1::IssueResponse late;
  EXPECT_EQ(Issue(&late).error_code(), grpc::UNAVAILABLE);
}

TEST_F(ObservabilityTest, GraceOverAnswersCallsStillWaitingOnMyposUnavailable) {
  auto transport = std::make_shared<GatedTransport>();
  StartServer(transport);
  grpc::ClientContext context;
  v1::IssueRequest request;
  v1::IssueResponse response;
  std::promise<grpc::Status> finished;
  stub_->async()->Issue(&context, &request, &response,
                        [&finished](grpc::Status s) { finished.set_value(s); });
  transport->WaitForArrival();  // held at "myPOS", and stays held

  // A grace that is already over: Shutdown must not wait for myPOS. (Were
  // the call not cancelled, this would block until the test times out.)
  server_->Shutdown(absl::Now());
  // Answered by the server itself, so that the caller knows to retry
  // elsewhere (not gRPC core's "Cancelling all calls" with no details).
  const grpc::Status status = finished.get_future().get();
  EXPECT_THAT(status, GrpcStatusIs(grpc::UNAVAILABLE, "SERVER_SHUTTING_DOWN"));
  // Retry at once: another replica answers.
  const auto& trailers = context.GetServerTrailingMetadata();
  auto pushback = trailers.find("grpc-retry-pushback-ms");
  ASSERT_NE(pushback, trailers.end());
  EXPECT_EQ(std::string(pushback->second.data(), pushback->second.size()), "0");
  EXPECT_EQ(Scrape()[Handled("Issue", "Unavailable")], 1);
  // And the request to "myPOS" was ended at once, not waited for.
  EXPECT_EQ(transport->held(), 0u);
}

TEST_F(ObservabilityTest, GraceOverAnswersCallsWaitingOnARetryShuttingDown) {
  StartServer();
  // myPOS asks for 5 s; the retry waits on a timer, the call with it.
  FakeMyposServer::Fault busy;
  busy.status = 503;
  busy.headers = {{"Retry-After", "5"}};
  fake_->EnqueueTokenFault(busy);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::IssueRequest request;
  v1::IssueResponse response;
  std::promise<grpc::Status> finished;
  stub_->async()->Issue(&context, &request, &response,
                        [&finished](grpc::Status s) { finished.set_value(s); });
  fake_->AwaitTokenRequests(1);
  server_->Shutdown(absl::Now());
  // Not DEADLINE_EXCEEDED from the caller's deadline timer run early, and
  // no retry made for nobody.
  EXPECT_THAT(finished.get_future().get(),
              GrpcStatusIs(grpc::UNAVAILABLE, "SERVER_SHUTTING_DOWN"));
  EXPECT_EQ(fake_->token_requests(), 1);
}

TEST_F(ObservabilityTest, CancelledCallEndsAtOnceAndTheSharedFetchGoesOn) {
  auto transport = std::make_shared<GatedTransport>();
  StartServer(transport);
  grpc::ClientContext first_context, second_context;
  v1::IssueRequest request;
  v1::IssueResponse first, second;
  std::promise<grpc::Status> first_done, second_done;
  stub_->async()->Issue(&first_context, &request, &first,
                        [&](grpc::Status s) { first_done.set_value(s); });
  transport->WaitForArrival();
  stub_->async()->Issue(&second_context, &request, &second,
                        [&](grpc::Status s) { second_done.set_value(s); });
  // Both callers wait on the one fetch (this loop waits for that state).
  while (Scrape()["tokenservice_fetch_waiters"] != 2) {
  }

  first_context.TryCancel();
  EXPECT_EQ(first_done.get_future().get().error_code(), grpc::CANCELLED);
  // The server finished the cancelled call without waiting for myPOS.
  while (Scrape()[Handled("Issue", "Canceled")] != 1) {
  }

  transport->Release();
  const grpc::Status status = second_done.get_future().get();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(second.access_token().empty());
  EXPECT_EQ(fake_->token_requests(), 1);
}

TEST_F(ObservabilityTest, OversizedMetadataFailsNoOtherCallOnItsConnection) {
  // A 9 KB x-caller-key used to exceed gRPC's 8 KiB default and fail every
  // call in flight on the same connection with RESOURCE_EXHAUSTED.
  auto transport = std::make_shared<GatedTransport>();
  StartServer(transport);
  grpc::ClientContext waiting_context;
  v1::IssueRequest request;
  v1::IssueResponse waiting_response;
  std::promise<grpc::Status> waiting;
  stub_->async()->Issue(&waiting_context, &request, &waiting_response,
                        [&waiting](grpc::Status s) { waiting.set_value(s); });
  transport->WaitForArrival();  // in flight on the stub's one connection

  grpc::ClientContext careless;
  careless.AddMetadata(kCallerKeyMetadata, std::string(9 * 1024, 'k'));
  v1::ListTokensResponse list;
  // An open policy ignores the key: the careless call itself goes through.
  EXPECT_TRUE(
      stub_->ListTokens(&careless, v1::ListTokensRequest(), &list).ok());

  transport->Release();
  const grpc::Status status = waiting.get_future().get();
  EXPECT_TRUE(status.ok()) << status.error_code() << " "
                           << status.error_message();
}

}  // namespace
}  // namespace tokenservice
