// TokenServer::Start when its ports cannot be had: a clear error naming the
// address, never a crash, and never a second server sharing a port.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/token_server.h"
#include "tests/testing/status_matchers.h"

namespace tokenservice {
namespace {

// A loopback port held by a plain listening socket (no SO_REUSEPORT), for
// as long as the object lives.
class HeldPort {
 public:
  HeldPort() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof(addr);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), size), 0);
    EXPECT_EQ(listen(fd_, 1), 0);
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &size), 0);
    address_ = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
  }
  ~HeldPort() { close(fd_); }
  const std::string& address() const { return address_; }

 private:
  const int fd_;
  std::string address_;
};

ServerConfig Config() {
  ServerConfig config;
  config.listen_address = "127.0.0.1:0";
  config.token_url = "http://127.0.0.1:1/oauth/token";  // never called
  config.revoke_url = "http://127.0.0.1:1/oauth/revoke";
  config.profiles = {{"default", {"id", "secret"}}};
  return config;
}

TEST(TokenServerStart, ListenAddressInUseIsUnavailableNamingIt) {
  HeldPort held;
  ServerConfig config = Config();
  config.listen_address = held.address();
  auto server = TokenServer::Start(config);
  EXPECT_THAT(server, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(server,
              MessageHas("--listen: cannot listen on " + held.address()));
}

TEST(TokenServerStart, AdminAddressInUseIsUnavailableNamingIt) {
  HeldPort held;
  ServerConfig config = Config();
  config.admin_listen_address = held.address();
  auto server = TokenServer::Start(config);
  EXPECT_THAT(server, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(server,
              MessageHas("--admin_listen: cannot listen on " + held.address()));
}

TEST(TokenServerStart, SecondServerOnTheSamePortsDoesNotStart) {
  ServerConfig config = Config();
  config.admin_listen_address = "127.0.0.1:0";
  auto first = TokenServer::Start(config);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string grpc = absl::StrCat("127.0.0.1:", (*first)->port());
  const std::string admin = absl::StrCat("127.0.0.1:", (*first)->admin_port());

  ServerConfig same_grpc = Config();
  same_grpc.listen_address = grpc;
  EXPECT_THAT(TokenServer::Start(same_grpc), MessageHas(grpc));

  ServerConfig same_admin = Config();
  same_admin.admin_listen_address = admin;
  EXPECT_THAT(TokenServer::Start(same_admin), MessageHas(admin));
}

}  // namespace
}  // namespace tokenservice
