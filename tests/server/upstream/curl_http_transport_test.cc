// CurlHttpTransport against a real HTTP server on loopback (and a one-shot
// proxy listener on loopback), and its libcurl error mapping.

#include "server/upstream/curl_http_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "server/ops/error_reason.h"

namespace tokenservice {
namespace {

using ::testing::Contains;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::Pair;
using ::testing::StartsWith;

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

// Sets (or with nullopt, unsets) an environment variable for its lifetime.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    Set(value);
  }
  ~ScopedEnv() { Set(old_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  void Set(const std::optional<std::string>& value) {
    if (value.has_value()) {
      setenv(name_, value->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  const char* const name_;
  std::optional<std::string> old_;
};

// A listener on 127.0.0.1 that accepts one connection, reads one HTTP
// request (head and Content-Length body), answers 200 "{}" and closes.
// Thread-compatible: read request() only after Join().
class OneRequestListener {
 public:
  OneRequestListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
        listen(fd_, 1) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
    thread_ = std::thread([this] { Serve(); });
  }
  ~OneRequestListener() {
    Join();
    close(fd_);
  }

  int port() const { return port_; }
  // Stops waiting for a connection (if none came) and for the thread.
  void Join() {
    if (!thread_.joinable()) return;
    shutdown(fd_, SHUT_RDWR);  // ends a pending accept()
    thread_.join();
  }
  // What arrived: the request head and body; "" if nothing.
  const std::string& request() const { return request_; }

 private:
  void Serve() {
    const int conn = accept(fd_, nullptr, nullptr);
    if (conn < 0) return;
    size_t want = std::string::npos;  // total bytes, once the head is read
    char buf[4096];
    while (request_.size() < want) {
      const ssize_t n = read(conn, buf, sizeof(buf));
      if (n <= 0) break;
      request_.append(buf, static_cast<size_t>(n));
      const size_t head_end = request_.find("\r\n\r\n");
      if (want == std::string::npos && head_end != std::string::npos) {
        want = head_end + 4 + ContentLength(request_.substr(0, head_end));
      }
    }
    const std::string reply =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
    (void)!write(conn, reply.data(), reply.size());
    close(conn);
  }

  static size_t ContentLength(const std::string& head) {
    const std::string name = "\r\ncontent-length:";
    const size_t at = absl::AsciiStrToLower(head).find(name);
    if (at == std::string::npos) return 0;
    return std::strtoul(head.c_str() + at + name.size(), nullptr, 10);
  }

  int fd_ = -1;
  int port_ = 0;
  std::string request_;
  std::thread thread_;  // last: starts once the fields above exist
};

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

  Mutex mu_;
  int requests_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<int> remote_ports_ ABSL_GUARDED_BY(mu_);
  httplib::Request received_ ABSL_GUARDED_BY(mu_);
};

TEST_F(CurlHttpTransportTest, PostRoundTripsStatusHeadersAndBody) {
  server_.Post("/token",
               [this](const httplib::Request& req, httplib::Response& res) {
                 {
                   MutexLock lock(&mu_);
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
  MutexLock lock(&mu_);
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
    MutexLock lock(&mu_);
    ++requests_;
  });
  Start();
  auto response = transport_->Post(Request(Url("/token"), -absl::Seconds(1)));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
  ExpectNoCanary(response.status());
  MutexLock lock(&mu_);
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
  // The handshake breaks off: a network failure, not a rejected certificate.
  EXPECT_EQ(ErrorReason(response.status()), kReasonUpstreamUnavailable);
  ExpectNoCanary(response.status());
}

// A redirect is a reply like any other: its Location is never requested,
// whether the method would be kept (307) or turned into GET (302).
TEST_F(CurlHttpTransportTest, PostRedirectIsAValueAndNotFollowed) {
  for (int status : {302, 307}) {
    server_.Post(
        absl::StrCat("/token", status),
        [this, status](const httplib::Request&, httplib::Response& res) {
          res.status = status;
          res.set_header("Location", Url("/elsewhere"));
        });
  }
  auto count = [this](const httplib::Request&, httplib::Response& res) {
    MutexLock lock(&mu_);
    ++requests_;
    res.set_content(R"({"access_token":"followed"})", "application/json");
  };
  server_.Post("/elsewhere", count);
  server_.Get("/elsewhere", count);
  Start();
  for (int status : {302, 307}) {
    auto response =
        transport_->Post(Request(Url(absl::StrCat("/token", status))));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->status, status);
    EXPECT_THAT(response->headers,
                Contains(Pair("location", Url("/elsewhere"))));
  }
  MutexLock lock(&mu_);
  EXPECT_EQ(requests_, 0);
}

// libcurl's proxy variables are honoured (nothing overrides them): a request
// for a host that does not resolve goes, as an absolute-form request, to
// the proxy, which here is a listener on loopback.
TEST_F(CurlHttpTransportTest, PostUsesHttpProxyFromEnvironment) {
  OneRequestListener proxy;
  ASSERT_GT(proxy.port(), 0);
  ScopedEnv http_proxy("http_proxy",
                       absl::StrCat("http://127.0.0.1:", proxy.port()));
  ScopedEnv no_proxy("no_proxy", std::nullopt);
  ScopedEnv no_proxy_upper("NO_PROXY", std::nullopt);
  CurlHttpTransport transport{CurlHttpTransport::Options()};
  auto response = transport.Post(Request("http://mypos.invalid/oauth/token"));
  proxy.Join();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "{}");
  EXPECT_THAT(proxy.request(),
              StartsWith("POST http://mypos.invalid/oauth/token HTTP/1.1\r\n"));
  EXPECT_THAT(proxy.request(), HasSubstr("\r\nHost: mypos.invalid\r\n"));
  EXPECT_THAT(proxy.request(), EndsWith(kCanaryBody));
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
                   MutexLock lock(&mu_);
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
  MutexLock lock(&mu_);
  EXPECT_EQ(remote_ports_.size(), 1u);
}

TEST_F(CurlHttpTransportTest,
       RequestsThatMustNotRepeatGetAConnectionOfTheirOwn) {
  // libcurl resends a request whose reused connection turned out dead; a
  // user's grant must never be sent twice, so it never rides a reused
  // connection and leaves none behind.
  server_.Post("/token",
               [this](const httplib::Request& req, httplib::Response& res) {
                 {
                   MutexLock lock(&mu_);
                   remote_ports_.insert(req.remote_port);
                 }
                 res.set_content("{}", "application/json");
               });
  Start();
  ASSERT_TRUE(transport_->Post(Request(Url("/token"))).ok());  // pooled
  for (int i = 0; i < 3; ++i) {
    HttpRequest grant = Request(Url("/token"));
    grant.idempotent = false;
    ASSERT_TRUE(transport_->Post(grant).ok());
  }
  MutexLock lock(&mu_);
  EXPECT_EQ(remote_ports_.size(), 4u);
}

TEST_F(CurlHttpTransportTest, DeadlinePassedBeforeSendingSaysNothingWasSent) {
  HttpRequest request = Request("http://127.0.0.1:1/token");
  request.deadline = absl::Now() - absl::Seconds(1);
  auto response = transport_->Post(request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ErrorMetadata(response.status()).at(kMetadataRequestSent), "false");
}

// Failures before any byte is sent (no handle, no memory for the headers)
// go through the same mapping as network errors, and are retryable.
TEST(CurlErrorToStatus, LocalFailuresAreUnavailableWithReason) {
  for (CURLcode code : {CURLE_FAILED_INIT, CURLE_OUT_OF_MEMORY}) {
    const absl::Status status = CurlErrorToStatus(code, "mypos.test", false);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << code;
    EXPECT_EQ(ErrorReason(status), kReasonUpstreamUnavailable) << code;
    EXPECT_THAT(std::string(status.message()),
                HasSubstr("could not be set up"));
    EXPECT_THAT(std::string(status.message()), HasSubstr("mypos.test"));
  }
}

TEST(CurlErrorToStatus, EveryCodeGetsAReason) {
  for (int code = CURLE_OK + 1; code < CURL_LAST; ++code) {
    for (bool deadline_passed : {false, true}) {
      const absl::Status status = CurlErrorToStatus(
          static_cast<CURLcode>(code), "mypos.test", deadline_passed);
      EXPECT_FALSE(status.ok()) << code;
      EXPECT_NE(ErrorReason(status), "") << code;
    }
  }
}

}  // namespace
}  // namespace tokenservice
