// CurlHttpTransport against a real HTTP server on loopback (and a one-shot
// listener on loopback, as a proxy or a second host), and its libcurl error
// mapping. Nothing waits for time to pass: tests wait for replies and for
// requests to reach the server; blocked handlers wait for release_.

#include "server/upstream/curl_http_transport.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

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
#include "server/upstream/curl_transfer.h"

namespace tokenservice {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
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

// Whether `status` says none of the request was sent.
bool Unsent(const absl::Status& status) {
  const auto metadata = ErrorMetadata(status);
  auto it = metadata.find(kMetadataRequestSent);
  return it != metadata.end() && it->second == "false";
}

// Threads of this process: the entries of /proc/self/task.
int ThreadCount() {
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  int count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count;
}

// The result of one Post(), handed over from the transport's thread. Shared
// with the callback, so that it outlives the callback's last touch.
// Thread-safe.
class Reply {
 public:
  static HttpCallback Callback(std::shared_ptr<Reply> reply) {
    return [reply](absl::StatusOr<HttpResponse> result) {
      MutexLock lock(&reply->mu_);
      reply->result_ = std::move(result);
      reply->thread_ = std::this_thread::get_id();
      reply->done_ = true;
    };
  }
  // The result; an error of its own if none came within 30 s (a hang).
  absl::StatusOr<HttpResponse> Wait() {
    MutexLock lock(&mu_);
    if (!mu_.AwaitWithDeadline(absl::Condition(&done_),
                               absl::Now() + absl::Seconds(30))) {
      return absl::InternalError("test: no callback within 30 s");
    }
    return result_;
  }
  bool done() {
    MutexLock lock(&mu_);
    return done_;
  }
  // The thread the callback ran on.
  std::thread::id thread() {
    MutexLock lock(&mu_);
    return thread_;
  }

 private:
  Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::StatusOr<HttpResponse> result_ ABSL_GUARDED_BY(mu_) =
      absl::UnknownError("no reply");
  std::thread::id thread_ ABSL_GUARDED_BY(mu_);
};

std::shared_ptr<Reply> Send(HttpTransport& transport, HttpRequest request) {
  auto reply = std::make_shared<Reply>();
  transport.Post(std::move(request), Reply::Callback(reply));
  return reply;
}

absl::StatusOr<HttpResponse> PostAndWait(HttpTransport& transport,
                                         HttpRequest request) {
  return Send(transport, std::move(request))->Wait();
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
    server_.set_tcp_nodelay(true);  // replies are written in parts
    int listener = -1;
    server_.set_socket_options([&listener](int fd) {
      int yes = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
      listener = fd;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    // httplib listens with a backlog of 5: a burst of connections beyond it
    // would wait out the client's SYN retransmission (1 s).
    ASSERT_EQ(listen(listener, 256), 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // Readiness, not a wait for the client: stop() needs a running server.
    // The socket already listens; this waits for the accept loop, not time.
    while (!server_.is_running()) std::this_thread::yield();
  }

  // Registers "/block", which counts the request (by its X-Id header) and
  // holds it until release_, and "/quick", which answers at once.
  void StartWithBlockingHandler() {
    server_.Post("/block",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   {
                     MutexLock lock(&mu_);
                     arrived_.push_back(req.get_header_value("X-Id"));
                     max_in_handler_ = std::max(max_in_handler_, ++in_handler_);
                   }
                   release_.WaitForNotificationWithTimeout(absl::Seconds(20));
                   {
                     MutexLock lock(&mu_);
                     --in_handler_;
                   }
                   res.set_content("{}", "application/json");
                 });
    server_.Post("/quick", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("{}", "application/json");
    });
    Start();
  }

  // Waits until `count` requests reached "/block"; false after 30 s.
  bool WaitForArrivals(size_t count) {
    MutexLock lock(&mu_);
    awaited_ = count;
    return mu_.AwaitWithDeadline(
        absl::Condition(this, &CurlHttpTransportTest::EnoughArrived),
        absl::Now() + absl::Seconds(30));
  }
  bool EnoughArrived() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return arrived_.size() >= awaited_;
  }
  std::vector<std::string> Arrived() {
    MutexLock lock(&mu_);
    return arrived_;
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
    request.options.deadline = absl::Now() + timeout;
    return request;
  }

  // A request to "/block" (or `path`) named `id`, in `lane`, whose wanted()
  // records `id` in started_ when its turn comes.
  HttpRequest Labelled(const std::string& id, Lane lane,
                       absl::string_view path = "/block") {
    HttpRequest request = Request(Url(path));
    request.headers.emplace_back("X-Id", id);
    request.options.lane = lane;
    request.options.wanted = [this, id] {
      MutexLock lock(&mu_);
      started_.push_back(id);
      return true;
    };
    return request;
  }
  std::vector<std::string> Started() {
    MutexLock lock(&mu_);
    return started_;
  }

  static CurlHttpTransport::Options WithCap(int max_connections_per_host) {
    CurlHttpTransport::Options options;
    options.max_connections_per_host = max_connections_per_host;
    return options;
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
  std::vector<std::string> arrived_ ABSL_GUARDED_BY(mu_);  // at "/block"
  size_t awaited_ ABSL_GUARDED_BY(mu_) = 0;
  int in_handler_ ABSL_GUARDED_BY(mu_) = 0;
  int max_in_handler_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> started_ ABSL_GUARDED_BY(mu_);  // by wanted()
  int max_threads_ ABSL_GUARDED_BY(mu_) = 0;               // seen by callbacks
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
  auto response = PostAndWait(*transport_, Request(Url("/token")));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, R"({"ok":true})");
  EXPECT_THAT(response->headers, Contains(Pair("x-reply", "yes")));
  EXPECT_THAT(response->headers,
              Contains(Pair("content-type", "application/json")));
  EXPECT_EQ(response->retry_after, std::nullopt);
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
  auto response = PostAndWait(*transport_, Request(Url("/token")));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 401);
  EXPECT_EQ(response->body, R"({"error":"invalid_client"})");
}

TEST_F(CurlHttpTransportTest, PostConnectionRefusedIsUnavailableUnsent) {
  const int port = ClosedPort();
  auto response = PostAndWait(
      *transport_, Request(absl::StrCat("http://127.0.0.1:", port, "/")));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(response.status()), kReasonUpstreamUnavailable);
  EXPECT_TRUE(Unsent(response.status()));
  EXPECT_THAT(std::string(response.status().message()), HasSubstr("127.0.0.1"));
  ExpectNoCanary(response.status());
}

TEST_F(CurlHttpTransportTest, PostBodyOverCapIsUnavailable) {
  server_.Post("/token", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(100 * 1024, 'x'), "text/plain");
  });
  Start();
  auto response = PostAndWait(*transport_, Request(Url("/token")));
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
  auto response =
      PostAndWait(*transport_, Request(Url("/token"), -absl::Seconds(1)));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ErrorReason(response.status()), kReasonDeadlineExceeded);
  EXPECT_TRUE(Unsent(response.status()));
  ExpectNoCanary(response.status());
  MutexLock lock(&mu_);
  EXPECT_EQ(requests_, 0);
}

// Even a request that fails before anything is sent gets its callback on
// the transport's thread, after Post() returned.
TEST_F(CurlHttpTransportTest, PostNeverCallsBackInsidePost) {
  HttpRequest late = Request("http://127.0.0.1:1/token", -absl::Seconds(1));
  HttpRequest bad = Request("http://127.0.0.1:1/token");
  bad.headers.emplace_back("X-Evil", "a\nb");
  for (HttpRequest* request : {&late, &bad}) {
    auto reply = Send(*transport_, std::move(*request));
    EXPECT_FALSE(reply->Wait().ok());
    // Inside Post() it would have been this thread.
    EXPECT_NE(reply->thread(), std::this_thread::get_id());
  }
}

TEST_F(CurlHttpTransportTest, PostSlowServerBeyondDeadlineIsDeadlineExceeded) {
  StartWithBlockingHandler();
  const absl::Time start = absl::Now();
  auto response =
      PostAndWait(*transport_, Request(Url("/block"), absl::Milliseconds(200)));
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
  StartWithBlockingHandler();
  auto response =
      PostAndWait(transport, Request(Url("/block"), absl::Seconds(30)));
  release_.Notify();
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(response.status()), kReasonUpstreamUnavailable);
  ExpectNoCanary(response.status());
}

TEST_F(CurlHttpTransportTest, PostHttpsToPlainServerIsUnavailable) {
  server_.Post("/token", [](const httplib::Request&, httplib::Response&) {});
  Start();
  auto response =
      PostAndWait(*transport_,
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
        PostAndWait(*transport_, Request(Url(absl::StrCat("/token", status))));
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
  auto response =
      PostAndWait(transport, Request("http://mypos.invalid/oauth/token"));
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
  auto response = PostAndWait(*transport_, Request("ftp://127.0.0.1/token"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorReason(response.status()), kReasonBadRequest);
  ExpectNoCanary(response.status());
}

TEST_F(CurlHttpTransportTest, PostMalformedUrlIsInvalidArgument) {
  auto response = PostAndWait(*transport_, Request("http://[oops/token"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrorReason(response.status()), kReasonBadRequest);
  EXPECT_TRUE(Unsent(response.status()));
}

TEST_F(CurlHttpTransportTest, PostHeaderWithNewlineIsInvalidArgument) {
  HttpRequest request = Request("http://127.0.0.1:1/token");
  request.headers.emplace_back("X-Evil", "a\r\nInjected: CANARY");
  auto response = PostAndWait(*transport_, request);
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
    auto response = PostAndWait(*transport_, Request(Url("/token")));
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
  ASSERT_TRUE(PostAndWait(*transport_, Request(Url("/token"))).ok());  // kept
  for (int i = 0; i < 3; ++i) {
    HttpRequest grant = Request(Url("/token"));
    grant.idempotent = false;
    ASSERT_TRUE(PostAndWait(*transport_, grant).ok());
  }
  MutexLock lock(&mu_);
  EXPECT_EQ(remote_ports_.size(), 4u);
}

TEST_F(CurlHttpTransportTest, DeadlinePassedBeforeSendingSaysNothingWasSent) {
  HttpRequest request = Request("http://127.0.0.1:1/token");
  request.options.deadline = absl::Now() - absl::Seconds(1);
  auto response = PostAndWait(*transport_, request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ErrorMetadata(response.status()).at(kMetadataRequestSent), "false");
}

// Five requests, two connections: two reach the server, the other three
// wait in the transport (a reply from another host, posted after them,
// comes back meanwhile) and go once the first are answered.
TEST_F(CurlHttpTransportTest, PostsBeyondTheCapWaitForAConnection) {
  CurlHttpTransport transport(WithCap(2));
  StartWithBlockingHandler();
  std::vector<std::shared_ptr<Reply>> replies;
  for (int i = 0; i < 5; ++i) {
    replies.push_back(
        Send(transport, Labelled(absl::StrCat("r", i), Lane::kCaller)));
  }
  ASSERT_TRUE(WaitForArrivals(2));
  OneRequestListener other_host;
  HttpRequest probe =
      Request(absl::StrCat("http://127.0.0.1:", other_host.port(), "/"));
  ASSERT_TRUE(PostAndWait(transport, probe).ok());
  EXPECT_EQ(Arrived().size(), 2u);
  for (const auto& reply : replies) EXPECT_FALSE(reply->done());
  release_.Notify();
  for (const auto& reply : replies) {
    auto response = reply->Wait();
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->status, 200);
  }
  MutexLock lock(&mu_);
  EXPECT_EQ(arrived_.size(), 5u);
  EXPECT_EQ(max_in_handler_, 2);
}

// With four connections, three caller requests take all a caller may: a
// fourth waits, and a reserved request still gets the last connection.
TEST_F(CurlHttpTransportTest, CallerRequestsLeaveAQuarterToReservedOnes) {
  CurlHttpTransport transport(WithCap(4));
  StartWithBlockingHandler();
  std::vector<std::shared_ptr<Reply>> callers;
  for (int i = 0; i < 3; ++i) {
    callers.push_back(
        Send(transport, Labelled(absl::StrCat("c", i), Lane::kCaller)));
  }
  ASSERT_TRUE(WaitForArrivals(3));
  callers.push_back(Send(transport, Labelled("c3", Lane::kCaller)));
  auto reserved =
      PostAndWait(transport, Labelled("reserved", Lane::kReserved, "/quick"));
  ASSERT_TRUE(reserved.ok()) << reserved.status();
  EXPECT_EQ(reserved->status, 200);
  EXPECT_THAT(Started(), ElementsAre("c0", "c1", "c2", "reserved"));
  EXPECT_FALSE(callers[3]->done());
  release_.Notify();
  for (const auto& reply : callers) EXPECT_TRUE(reply->Wait().ok());
  EXPECT_THAT(Started(), ElementsAre("c0", "c1", "c2", "reserved", "c3"));
}

// When a connection frees up, a queued reserved request goes before a
// caller request that has waited longer.
TEST_F(CurlHttpTransportTest, QueuedReservedRequestsStartBeforeCallerOnes) {
  CurlHttpTransport transport(WithCap(1));
  StartWithBlockingHandler();
  auto first = Send(transport, Labelled("first", Lane::kCaller));
  ASSERT_TRUE(WaitForArrivals(1));
  auto caller = Send(transport, Labelled("caller", Lane::kCaller));
  auto reserved1 = Send(transport, Labelled("reserved1", Lane::kReserved));
  auto reserved2 = Send(transport, Labelled("reserved2", Lane::kReserved));
  release_.Notify();
  for (const auto& reply : {first, caller, reserved1, reserved2}) {
    EXPECT_TRUE(reply->Wait().ok());
  }
  EXPECT_THAT(Started(),
              ElementsAre("first", "reserved1", "reserved2", "caller"));
  EXPECT_THAT(Arrived(),
              ElementsAre("first", "reserved1", "reserved2", "caller"));
}

TEST_F(CurlHttpTransportTest, QueuedRequestFailsAtItsDeadlineUnsent) {
  CurlHttpTransport transport(WithCap(1));
  StartWithBlockingHandler();
  auto first = Send(transport, Labelled("first", Lane::kCaller));
  ASSERT_TRUE(WaitForArrivals(1));
  HttpRequest late = Labelled("late", Lane::kCaller);
  const absl::Time deadline = absl::Now() + absl::Milliseconds(200);
  late.options.deadline = deadline;
  auto response = PostAndWait(transport, std::move(late));
  EXPECT_GE(absl::Now(), deadline);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ErrorReason(response.status()), kReasonDeadlineExceeded);
  EXPECT_TRUE(Unsent(response.status()));
  ExpectNoCanary(response.status());
  EXPECT_FALSE(first->done());
  release_.Notify();
  EXPECT_TRUE(first->Wait().ok());
  EXPECT_THAT(Started(), ElementsAre("first"));
  EXPECT_THAT(Arrived(), ElementsAre("first"));
}

TEST_F(CurlHttpTransportTest, UnwantedRequestIsDroppedUnsentWhenItsTurnComes) {
  CurlHttpTransport transport(WithCap(1));
  StartWithBlockingHandler();
  auto first = Send(transport, Labelled("first", Lane::kCaller));
  ASSERT_TRUE(WaitForArrivals(1));
  HttpRequest unwanted = Labelled("unwanted", Lane::kCaller);
  unwanted.options.wanted = [this] {
    MutexLock lock(&mu_);
    started_.push_back("asked");
    return false;
  };
  auto dropped = Send(transport, std::move(unwanted));
  auto next = Send(transport, Labelled("next", Lane::kCaller));
  EXPECT_THAT(Started(), ElementsAre("first"));  // not asked while queued
  release_.Notify();
  auto response = dropped->Wait();
  EXPECT_EQ(response.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(Unsent(response.status()));
  ExpectNoCanary(response.status());
  EXPECT_TRUE(next->Wait().ok());
  EXPECT_TRUE(first->Wait().ok());
  EXPECT_THAT(Started(), ElementsAre("first", "asked", "next"));
  EXPECT_THAT(Arrived(), ElementsAre("first", "next"));
}

// Shutdown() ends a request under way (its handler still blocked) and a
// queued one at once, with their callbacks run before it returns; a later
// Post() fails the same way, on the transport's thread, and a second
// Shutdown() waits for that answer.
TEST_F(CurlHttpTransportTest, ShutdownEndsEveryRequestAtOnce) {
  CurlHttpTransport transport(WithCap(1));
  StartWithBlockingHandler();
  auto running = Send(transport, Labelled("running", Lane::kCaller));
  ASSERT_TRUE(WaitForArrivals(1));
  auto queued = Send(transport, Labelled("queued", Lane::kReserved));
  transport.Shutdown();
  EXPECT_TRUE(running->done());
  EXPECT_TRUE(queued->done());
  EXPECT_FALSE(release_.HasBeenNotified());
  for (const auto& reply : {running, queued}) {
    const absl::Status status = reply->Wait().status();
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(ErrorReason(status), kReasonServerShuttingDown);
    ExpectNoCanary(status);
  }
  EXPECT_FALSE(Unsent(running->Wait().status()));  // it was sent
  EXPECT_TRUE(Unsent(queued->Wait().status()));

  auto later = Send(transport, Request(Url("/quick")));
  // Shutdown() again returns once what was posted since is answered too.
  transport.Shutdown();
  EXPECT_TRUE(later->done());
  const absl::Status status = later->Wait().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ErrorReason(status), kReasonServerShuttingDown);
  EXPECT_TRUE(Unsent(status));
  EXPECT_NE(later->thread(), std::this_thread::get_id());
  EXPECT_THAT(Started(), ElementsAre("running"));
}

TEST_F(CurlHttpTransportTest, RetryAfterSecondsIsRead) {
  server_.Post("/token", [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_header("Retry-After", "7");
  });
  Start();
  auto response = PostAndWait(*transport_, Request(Url("/token")));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->retry_after, absl::Seconds(7));
  EXPECT_THAT(response->headers, Contains(Pair("retry-after", "7")));
}

TEST_F(CurlHttpTransportTest, RetryAfterHttpDateIsRead) {
  const std::string date =
      absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT",
                       absl::Now() + absl::Seconds(30), absl::UTCTimeZone());
  server_.Post("/token",
               [date](const httplib::Request&, httplib::Response& res) {
                 res.status = 429;
                 res.set_header("Retry-After", date);
               });
  Start();
  auto response = PostAndWait(*transport_, Request(Url("/token")));
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_TRUE(response->retry_after.has_value());
  EXPECT_GE(*response->retry_after, absl::Seconds(28));
  EXPECT_LE(*response->retry_after, absl::Seconds(32));
}

TEST_F(CurlHttpTransportTest, RetryAfterZeroIsReadAsZero) {
  server_.Post("/token", [](const httplib::Request&, httplib::Response& res) {
    res.status = 503;
    res.set_header("Retry-After", "0");
  });
  Start();
  auto response = PostAndWait(*transport_, Request(Url("/token")));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->retry_after, absl::ZeroDuration());
}

// 200 requests at once against a server that holds each until a batch of
// kBatch has arrived (so that many are under way together): all are
// answered, and the transport needs no thread per request.
TEST_F(CurlHttpTransportTest, ManyConcurrentRequestsShareOneThread) {
  static constexpr int kRequests = 200;
  static constexpr int kBatch = 8;  // well under the cap's caller share (48)
  int arrived = 0;  // guarded by mu_; the warm-up request counts
  server_.new_task_queue = [] { return new httplib::ThreadPool(72); };
  server_.Post("/slow", [this, &arrived](const httplib::Request&,
                                         httplib::Response& res) {
    {
      MutexLock lock(&mu_);
      max_in_handler_ = std::max(max_in_handler_, ++in_handler_);
      // Request n (after the warm-up) waits for the rest of its batch.
      const int n = arrived++;
      const int release =
          n == 0 ? 0 : std::min(kRequests, ((n - 1) / kBatch + 1) * kBatch);
      auto batch_in = [&arrived, release]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return arrived - 1 >= release;
      };
      mu_.Await(absl::Condition(&batch_in));
      --in_handler_;
    }
    res.set_content("{}", "application/json");
  });
  Start();
  // The server's pool exists once it has answered; this connection goes.
  ASSERT_TRUE(PostAndWait(*transport_, Request(Url("/slow"))).ok());
  transport_.reset();
  const int threads_before = ThreadCount();
  ASSERT_GT(threads_before, 0);
  CurlHttpTransport transport(WithCap(64));
  std::vector<std::shared_ptr<Reply>> replies;
  for (int i = 0; i < kRequests; ++i) {
    auto reply = std::make_shared<Reply>();
    HttpCallback inner = Reply::Callback(reply);
    transport.Post(Request(Url("/slow"), absl::Seconds(30)),
                   [this, inner = std::move(inner)](
                       absl::StatusOr<HttpResponse> result) mutable {
                     {
                       MutexLock lock(&mu_);
                       max_threads_ = std::max(max_threads_, ThreadCount());
                     }
                     std::move(inner)(std::move(result));
                   });
    replies.push_back(std::move(reply));
  }
  for (const auto& reply : replies) {
    auto response = reply->Wait();
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->status, 200);
  }
  MutexLock lock(&mu_);
  EXPECT_LE(max_threads_, threads_before + 2);
  EXPECT_GE(max_in_handler_, 2);
  EXPECT_LE(max_in_handler_, 64);
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
