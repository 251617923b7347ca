// /metrics as Prometheus itself reads it: a server that has served hits,
// misses, failures and a revocation, scraped and checked with
// `promtool check metrics` (Debian's prometheus package), which rejects
// what Prometheus would not parse and what its lint flags (a counter
// without _total, a histogram without +Inf, ...).

#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "fake_mypos/fake_mypos_server.h"
#include "gtest/gtest.h"
#include "proto/token_service.grpc.pb.h"
#include "server/token_server.h"
#include "tests/testing/subprocess.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;

constexpr char kCanarySecret[] = "canary-exposition-secret-7f3a";

// promtool's path on the PATH, or "" when it is not installed.
std::string FindPromtool() {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path == nullptr ? "/usr/bin:/bin" : path, ':')) {
    const std::string candidate = absl::StrCat(dir, "/promtool");
    if (std::ifstream(candidate).good()) return candidate;
  }
  return "";
}

TEST(MetricsExposition, PromtoolAcceptsWhatTheServerExposes) {
  const std::string promtool = FindPromtool();
  ASSERT_FALSE(promtool.empty())
      << "promtool is not on the PATH: scripts/install_deps.sh installs "
         "Debian's prometheus package, which has it";

  FakeMyposServer::Options fake_options;
  fake_options.clients = {{"client", kCanarySecret}};
  FakeMyposServer fake(fake_options);
  ASSERT_TRUE(fake.Start().ok());
  ServerConfig config;
  config.listen_address = "127.0.0.1:0";
  config.admin_listen_address = "127.0.0.1:0";
  config.token_url = fake.BaseUrl() + "/oauth/token";
  config.revoke_url = fake.BaseUrl() + "/oauth/revoke";
  config.profiles = {{"default", {"client", kCanarySecret}}};
  auto server = TokenServer::Start(config);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::TokenService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                          grpc::InsecureChannelCredentials()));

  // A rate-limited attempt, a retry that succeeds, a hit, a failure, a
  // revocation: every family with series in it.
  FakeMyposServer::Fault limited;
  limited.status = 429;
  limited.headers = {{"Retry-After", "0"}};
  fake.EnqueueTokenFault(limited);
  std::string token;
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext context;
    v1::IssueResponse response;
    ASSERT_TRUE(stub->Issue(&context, v1::IssueRequest(), &response).ok());
    token = response.access_token();
  }
  {
    grpc::ClientContext context;
    v1::GetTokenInfoRequest request;
    request.set_fingerprint("0000000000000000");
    v1::TokenInfo info;
    EXPECT_EQ(stub->GetTokenInfo(&context, request, &info).error_code(),
              grpc::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    v1::RevokeRequest request;
    request.set_token(token);
    v1::RevokeResponse response;
    EXPECT_TRUE(stub->Revoke(&context, request, &response).ok());
  }

  httplib::Client admin("127.0.0.1", (*server)->admin_port());
  auto res = admin.Get("/metrics");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"),
            "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = res->body;
  EXPECT_EQ(text.find(token), std::string::npos);
  EXPECT_EQ(text.find(kCanarySecret), std::string::npos);
  EXPECT_NE(text.find("reason=\"UPSTREAM_RATE_LIMITED\""), std::string::npos)
      << "the rate-limited attempt is not there";

  const std::string file =
      absl::StrCat(std::getenv("TEST_TMPDIR"), "/metrics.txt");
  std::ofstream(file) << text;
  auto check = Subprocess::Start(
      {"/bin/sh", "-c",
       absl::StrCat("'", promtool, "' check metrics < '", file, "'")});
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ((*check)->Wait(), 0) << "promtool check metrics rejected:\n"
                                 << text;
}

}  // namespace
}  // namespace tokenservice
