// CurlHttpTransport against a real HTTP server on loopback.

#include "server/upstream/curl_http_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "server/upstream/error_reason.h"

namespace tokenservice {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;

constexpr char kCanaryAuthorization[] = "Basic CANARY-authorization-5e0c";
constexpr char kCanaryBody[] = "token=CANARY-body-a41d";

// A port on 127.0.0.1 that nothing listens on: bound, then closed.
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), len);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

void ExpectNoCanary(const absl::Status& status) {
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("CANARY")));
}

class CurlHttpTransportTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!release_.HasBeenNotified()) release_.Notify();
    // Closes pooled keep-alive connections, which the server would otherwise
    // wait out before it stops.
    transport_.reset();
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }

  // Starts the server once its handlers are registered.
  void Start() {
    server_.set_keep_alive_max_count(100);
    server_.set_read_timeout(1, 0);
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // Readiness, not a wait for the client: stop() needs a running server.
    // The socket already listens; this waits for the accept loop, not time.
    while (!server_.is_running()) std::this_thread::yield();
  }

  std::string Url(absl::string_view path) const {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }

  HttpRequest Request(std::string url,
                      absl::Duration timeout = absl::Seconds(10)) const {
    HttpRequest request;
    request.url = std::move(url);
    request.headers = {{"Authorization", kCanaryAuthorization},
                       {"Content-Type", "application/x-www-form-urlencoded"}};
    request.body = kCanaryBody;
    request.deadline = absl::Now() + timeout;
    return request;
  }

  std::unique_ptr<CurlHttpTransport> transport_ =
      std::make_unique<CurlHttpTransport>(CurlHttpTransport::Options());
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  absl::Notification release_;  // Lets a slow handler finish.

  absl::Mutex mu_;
  int requests_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<int> remote_ports_ ABSL_GUARDED_BY(mu_);
  httplib::Request received_ ABSL_GUARDED_BY(mu_);
};

TEST_F(CurlHttpTransportTest, PostRoundTripsStatusHeadersAndBody) {
  server_.Post("/token",
               [this](const httplib::Request& req, httplib::Response& res) {
                 {
                   absl::MutexLock lock(&mu_);
                   received_ = req;
                 }
                 res.status = 201;
                 res.set_header("X-Reply", "yes");
                 res.set_content(R"({"ok":true})", "application/json");
               });
  Start();
  auto response = transport_->Post(Request(Url("/token")));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, R"({"ok":true})");
  EXPECT_THAT(response->headers, Contains(Pair("x-reply", "yes")));
  EXPECT_THAT(response->headers,
              Contains(Pair("content-type", "application/json")));
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(received_.method, "POST");
  EXPECT_EQ(received_.body, kCanaryBody);
  EXPECT_EQ(received_.get_header_value("Authorization"), kCanaryAuthorization);
  EXPECT_EQ(received_.get_header_value("Content-Type"),
            "application/x-www-form-urlencoded");
  EXPECT_EQ(received_.get_header_value("User-Agent"), "tokenservice/1");
  EXPECT_FALSE(received_.has_header("Expect"));
}

TEST_F(CurlHttpTransportTest, Post4xxIsAValue) {
  server_.Post("/token", [](const httplib::Request&, httplib::Response& res) {
    res.status = 401;
    res.set_content(R"({"error":"invalid_client"})", "application/json");
  });
  Start();
  auto response = transport_->Post(Request(Url("/token")));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 401);
  EXPECT_EQ(response->body, R"({"error":"invalid_client"})");
}

TEST_F(CurlHttpTransportTest, PostConnectionRefusedIsUnavailable) {
  const int port = ClosedPort();
  auto response =
      transport_->Post(Request(absl::StrCat("http://127.0.0.1:", port, "/")));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(response.status()), kReasonUpstreamUnavailable);
  EXPECT_THAT(std::string(response.status().message()), HasSubstr("127.0.0.1"));
  ExpectNoCanary(response.status());
}

TEST_F(CurlHttpTransportTest, PostBodyOverCapIsUnavailable) {
  server_.Post("/token", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(100 * 1024, 'x'), "text/plain");
  });
  Start();
  auto response = transport_->Post(Request(Url("/token")));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(response.status()), kReasonUpstreamBadReply);
  EXPECT_THAT(std::string(response.status().message()),
              HasSubstr("(HTTP 200) rejected: reply body exceeds 65536 bytes"));
  ExpectNoCanary(response.status());
}

TEST_F(CurlHttpTransportTest, PostPastDeadlineIsDeadlineExceededUnsent) {
  server_.Post("/token", [this](const httplib::Request&, httplib::Response&) {
    absl::MutexLock lock(&mu_);
    ++requests_;
  });
  Start();
  auto response = transport_->Post(Request(Url("/token"), -absl::Seconds(1)));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
  ExpectNoCanary(response.status());
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(requests_, 0);
}

TEST_F(CurlHttpTransportTest, PostSlowServerBeyondDeadlineIsDeadlineExceeded) {
  server_.Post("/token", [this](const httplib::Request&, httplib::Response&) {
    release_.WaitForNotificationWithTimeout(absl::Seconds(10));
  });
  Start();
  const absl::Time start = absl::Now();
  auto response =
      transport_->Post(Request(Url("/token"), absl::Milliseconds(200)));
  const absl::Duration elapsed = absl::Now() - start;
  release_.Notify();
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ErrorReason(response.status()), kReasonDeadlineExceeded);
  EXPECT_GE(elapsed, absl::Milliseconds(190));
  EXPECT_LT(elapsed, absl::Seconds(5));
  ExpectNoCanary(response.status());
}

TEST_F(CurlHttpTransportTest, PostAttemptTimeoutBeforeDeadlineIsUnavailable) {
  CurlHttpTransport::Options options;
  options.max_attempt_timeout = absl::Milliseconds(200);
  CurlHttpTransport transport(options);
  server_.Post("/token", [this](const httplib::Request&, httplib::Response&) {
    release_.WaitForNotificationWithTimeout(absl::Seconds(10));
  });
  Start();
  auto response = transport.Post(Request(Url("/token"), absl::Seconds(30)));
  release_.Notify();
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(response.status()), kReasonUpstreamUnavailable);
  ExpectNoCanary(response.status());
}

TEST_F(CurlHttpTransportTest, PostHttpsToPlainServerIsUnavailable) {
  server_.Post("/token", [](const httplib::Request&, httplib::Response&) {});
  Start();
  auto response = transport_->Post(
      Request(absl::StrCat("https://127.0.0.1:", port_, "/token")));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  ExpectNoCanary(response.status());
}

TEST_F(CurlHttpTransportTest, PostUnsupportedSchemeIsInvalidArgument) {
  auto response = transport_->Post(Request("ftp://127.0.0.1/token"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  ExpectNoCanary(response.status());
}

TEST_F(CurlHttpTransportTest, PostHeaderWithNewlineIsInvalidArgument) {
  HttpRequest request = Request("http://127.0.0.1:1/token");
  request.headers.emplace_back("X-Evil", "a\r\nInjected: CANARY");
  auto response = transport_->Post(request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  ExpectNoCanary(response.status());
}

TEST_F(CurlHttpTransportTest, SequentialPostsReuseOneConnection) {
  server_.Post("/token",
               [this](const httplib::Request& req, httplib::Response& res) {
                 {
                   absl::MutexLock lock(&mu_);
                   remote_ports_.insert(req.remote_port);
                 }
                 res.set_content("{}", "application/json");
               });
  Start();
  for (int i = 0; i < 5; ++i) {
    auto response = transport_->Post(Request(Url("/token")));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->status, 200);
  }
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(remote_ports_.size(), 1u);
}

}  // namespace
}  // namespace tokenservice
