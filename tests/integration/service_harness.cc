#include "tests/integration/service_harness.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/rpc/status.pb.h"

namespace tokenservice {

using ::testing::HasSubstr;
using ::testing::Not;

void ServiceHarness::TearDown() {
  stub_.reset();
  server_.reset();
  fake_.reset();
  log_.Stop();
  const std::string log = log_.Text();
  EXPECT_THAT(log, Not(HasSubstr(kCanaryPrefix)));
  MutexLock lock(&mu_);
  for (const std::string& canary : canaries_) {
    EXPECT_THAT(log, Not(HasSubstr(canary))) << "a token was logged";
  }
}

void ServiceHarness::StartFake(std::string tls_cert_file,
                               std::string tls_key_file) {
  StartFake([&](FakeMyposServer::Options& options) {
    options.tls_cert_file = std::move(tls_cert_file);
    options.tls_key_file = std::move(tls_key_file);
  });
}

void ServiceHarness::StartFake(
    std::function<void(FakeMyposServer::Options&)> customize) {
  FakeMyposServer::Options options;
  options.clients = {{kHarnessClientId, kCanarySecret}};
  customize(options);
  fake_ = std::make_unique<FakeMyposServer>(options);
  absl::StatusOr<int> port = fake_->Start();
  ASSERT_TRUE(port.ok()) << port.status();
}

void ServiceHarness::StartServer(std::function<void(ServerConfig&)> customize,
                                 std::string base_url) {
  stub_.reset();
  server_.reset();
  if (base_url.empty()) base_url = fake_->BaseUrl();
  ServerConfig config;
  config.listen_address = "127.0.0.1:0";
  config.token_url = base_url + "/oauth/token";
  config.revoke_url = base_url + "/oauth/revoke";
  config.profiles = {{"default", {kHarnessClientId, kCanarySecret}}};
  config.retry.max_attempts = 3;
  config.retry.initial_backoff = absl::Milliseconds(10);
  config.retry.max_backoff = absl::Milliseconds(50);
  config.retry.max_retry_after = absl::Seconds(3);
  // Wider than the 50 ms default so that the answer beats the caller's
  // deadline also on a loaded 2-core machine or a sanitizer build.
  config.broker.deadline_margin = absl::Milliseconds(150);
  if (customize) customize(config);
  auto server = TokenServer::Start(config);
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
  stub_ = mypos::token::v1::TokenService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                          grpc::InsecureChannelCredentials()));
}

namespace {

// Runs `invoke` with a deadline of `deadline` from now, and times it.
template <typename Response, typename Invoke>
FinishedCall<Response> Timed(absl::Duration deadline, Invoke invoke) {
  FinishedCall<Response> call;
  call.deadline = deadline;
  grpc::ClientContext context;
  const absl::Time start = absl::Now();
  context.set_deadline(absl::ToChronoTime(start + deadline));
  call.status = invoke(&context, &call.response);
  call.elapsed = absl::Now() - start;
  EXPECT_THAT(call.status.error_message(), Not(HasSubstr(kCanaryPrefix)));
  google::rpc::Status details;
  if (!call.status.ok() &&
      details.ParseFromString(call.status.error_details())) {
    for (const auto& any : details.details()) {
      google::rpc::RetryInfo retry;
      if (any.UnpackTo(&retry)) {
        call.retry_delay = absl::Seconds(retry.retry_delay().seconds()) +
                           absl::Nanoseconds(retry.retry_delay().nanos());
      } else {
        any.UnpackTo(&call.info);
      }
    }
  }
  const auto& trailers = context.GetServerTrailingMetadata();
  if (auto it = trailers.find("grpc-retry-pushback-ms"); it != trailers.end()) {
    call.pushback_ms.assign(it->second.data(), it->second.size());
  }
  return call;
}

}  // namespace

IssueCall ServiceHarness::Issue(const mypos::token::v1::IssueRequest& request,
                                absl::Duration deadline) {
  IssueCall call = Timed<mypos::token::v1::IssueResponse>(
      deadline, [&](grpc::ClientContext* context,
                    mypos::token::v1::IssueResponse* response) {
        return stub_->Issue(context, request, response);
      });
  if (call.status.ok()) AddCanary(call.response.access_token());
  return call;
}

ExchangeCall ServiceHarness::Exchange(
    const mypos::token::v1::ExchangeGrantRequest& request,
    absl::Duration deadline) {
  ExchangeCall call = Timed<mypos::token::v1::ExchangeGrantResponse>(
      deadline, [&](grpc::ClientContext* context,
                    mypos::token::v1::ExchangeGrantResponse* response) {
        return stub_->ExchangeGrant(context, request, response);
      });
  if (call.status.ok()) {
    AddCanary(call.response.access_token());
    if (!call.response.refresh_token().empty()) {
      AddCanary(call.response.refresh_token());
    }
  }
  return call;
}

int ServiceHarness::LogEvents(const std::string& event) {
  return log_.Count(absl::StrCat("\"event\":\"", event, "\""));
}

std::vector<std::string> ServiceHarness::LogLines(const std::string& event) {
  const std::string needle = absl::StrCat("\"event\":\"", event, "\"");
  std::vector<std::string> lines = log_.Lines();
  lines.erase(std::remove_if(lines.begin(), lines.end(),
                             [&](const std::string& line) {
                               return !absl::StrContains(line, needle);
                             }),
              lines.end());
  return lines;
}

void ServiceHarness::AddCanary(const std::string& value) {
  if (value.empty()) return;
  MutexLock lock(&mu_);
  canaries_.push_back(value);
}

mypos::token::v1::IssueRequest ScopeRequest(const std::string& scope) {
  mypos::token::v1::IssueRequest request;
  request.add_scopes(scope);
  return request;
}

}  // namespace tokenservice
