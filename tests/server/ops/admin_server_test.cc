// AdminServer under hostile connections: nobody authenticates on the admin
// port, so a huge body must not be read into memory, and slow connections
// must not starve /healthz. Raw sockets on loopback, so that the test can
// do what a well-behaved HTTP client would not.

#include "server/ops/admin_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"

namespace tokenservice {
namespace {

// A loopback TCP connection whose reads give up after `read_timeout_s`.
class Connection {
 public:
  Connection(int port, int read_timeout_s = 10)
      : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    timeval timeout{read_timeout_s, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    connected_ =
        connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Connection() { close(fd_); }
  bool connected() const { return connected_; }

  // False once the server stopped taking data (it answered and closed).
  bool Send(const std::string& data) {
    return send(fd_, data.data(), data.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(data.size());
  }
  // The reply's status line, or "" when none came in time.
  std::string StatusLine() {
    std::string reply;
    char buffer[4096];
    while (reply.find("\r\n") == std::string::npos) {
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      reply.append(buffer, static_cast<size_t>(n));
    }
    return reply.substr(0, reply.find("\r\n"));
  }

 private:
  const int fd_;
  bool connected_ = false;
};

long ResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  long kb = 0;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, "VmRSS:")) {
      absl::SimpleAtoi(
          absl::StripAsciiWhitespace(absl::StripSuffix(line.substr(6), "kB")),
          &kb);
    }
  }
  return kb * 1024;
}

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto admin = AdminServer::Start(
        "127.0.0.1:0", [] { return std::string("metrics\n"); },
        [] { return true; });
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = *std::move(admin);
  }

  std::unique_ptr<AdminServer> admin_;
};

// Sends `head` announcing a 300 MB body, then as much of the body as the
// server takes; returns the status line and how much this process's RSS
// (the server's included) grew meanwhile.
std::pair<std::string, long> SendHugeBody(int port, const std::string& head) {
  const long before = ResidentBytes();
  Connection connection(port);
  EXPECT_TRUE(connection.connected());
  constexpr size_t kBody = 300 << 20;
  EXPECT_TRUE(connection.Send(
      absl::StrCat(head, "Content-Length: ", kBody, "\r\n\r\n")));
  const std::string chunk(1 << 20, 'x');
  for (size_t sent = 0; sent < kBody && connection.Send(chunk);) {
    sent += chunk.size();
  }
  std::string status = connection.StatusLine();
  return {status, ResidentBytes() - before};
}

// ThreadSanitizer's shadow memory and per-thread state make the resident
// set say nothing about what the server buffered; the replies are still
// checked there.
#if defined(__SANITIZE_THREAD__)
constexpr bool kRssIsMeaningful = false;
#else
constexpr bool kRssIsMeaningful = true;
#endif

TEST_F(AdminServerTest, HugeBodyIsRefusedWithoutBeingRead) {
  auto [status, growth] =
      SendHugeBody(admin_->port(), "POST /metrics HTTP/1.1\r\nHost: a\r\n");
  EXPECT_EQ(status, "HTTP/1.1 413 Payload Too Large");
  if (kRssIsMeaningful) {
    EXPECT_LE(growth, 16 << 20) << "RSS grew by " << growth << " bytes";
  }
}

TEST_F(AdminServerTest, HugeBodyOnHealthzIsNotReadEither) {
  auto [status, growth] =
      SendHugeBody(admin_->port(), "GET /healthz HTTP/1.1\r\nHost: a\r\n");
  EXPECT_FALSE(status.empty());
  if (kRssIsMeaningful) {
    EXPECT_LE(growth, 16 << 20) << "RSS grew by " << growth << " bytes";
  }
}

TEST_F(AdminServerTest, HealthzAnswersWhileSlowConnectionsAreOpen) {
  // Each sends half a request and then nothing: a worker waits on it.
  std::vector<std::unique_ptr<Connection>> slow;
  for (int i = 0; i < 64; ++i) {
    slow.push_back(std::make_unique<Connection>(admin_->port()));
    ASSERT_TRUE(slow.back()->Send("GET /healthz HTTP/1.1\r\nHost: a\r\n"));
  }
  // A probe gives up well before the slow connections time out on their
  // own; before the limits its request waited behind them.
  Connection probe(admin_->port(), /*read_timeout_s=*/3);
  ASSERT_TRUE(probe.Send("GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_EQ(probe.StatusLine(), "HTTP/1.1 200 OK");
}

}  // namespace
}  // namespace tokenservice
