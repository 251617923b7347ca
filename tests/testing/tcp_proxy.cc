#include "tests/testing/tcp_proxy.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tokenservice {
namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// Writes all of `data`; false if the peer is gone.
bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpProxy>> TcpProxy::Start(int target_port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 16) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return absl::InternalError("cannot listen on 127.0.0.1:0");
  }
  int wake[2];
  if (pipe(wake) != 0) {
    close(fd);
    return absl::InternalError("pipe failed");
  }
  return std::make_unique<TcpProxy>(fd, ntohs(addr.sin_port), target_port,
                                    wake[0], wake[1]);
}

TcpProxy::TcpProxy(int listen_fd, int port, int target_port, int wake_read,
                   int wake_write)
    : listen_fd_(listen_fd),
      port_(port),
      target_port_(target_port),
      wake_read_(wake_read),
      wake_write_(wake_write),
      thread_([this] { Loop(); }) {}

TcpProxy::~TcpProxy() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  Wake();
  thread_.join();
  MutexLock lock(&mu_);
  CloseAllLocked();
  close(listen_fd_);
  close(wake_read_);
  close(wake_write_);
}

std::string TcpProxy::endpoint() const {
  return absl::StrCat("127.0.0.1:", port_);
}

bool TcpProxy::Sever() {
  {
    MutexLock lock(&mu_);
    severed_ = true;
    sever_applied_ = false;
  }
  Wake();
  MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline(absl::Condition(&sever_applied_),
                               absl::Now() + absl::Seconds(10));
}

void TcpProxy::Restore() {
  MutexLock lock(&mu_);
  severed_ = false;
}

void TcpProxy::Wake() {
  const char byte = 0;
  while (write(wake_write_, &byte, 1) < 0 && errno == EINTR) {
  }
}

void TcpProxy::CloseAllLocked() {
  for (const Pair& pair : pairs_) {
    close(pair.client);
    close(pair.server);
  }
  pairs_.clear();
}

void TcpProxy::Loop() {
  std::vector<pollfd> fds;
  while (true) {
    std::vector<Pair> pairs;
    {
      MutexLock lock(&mu_);
      if (stopping_) return;
      if (severed_) {
        CloseAllLocked();
        sever_applied_ = true;
      }
      pairs = pairs_;
    }
    fds.clear();
    fds.push_back({wake_read_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const Pair& pair : pairs) {
      fds.push_back({pair.client, POLLIN, 0});
      fds.push_back({pair.server, POLLIN, 0});
    }
    if (poll(fds.data(), fds.size(), -1) < 0) continue;  // EINTR
    if (fds[0].revents != 0) {
      char drain[64];
      if (read(wake_read_, drain, sizeof(drain)) < 0) continue;
    }
    if (fds[1].revents & POLLIN) {
      const int client = accept(listen_fd_, nullptr, nullptr);
      if (client >= 0) {
        MutexLock lock(&mu_);
        const int server = severed_ ? -1 : socket(AF_INET, SOCK_STREAM, 0);
        const sockaddr_in target = Loopback(target_port_);
        if (server >= 0 &&
            connect(server, reinterpret_cast<const sockaddr*>(&target),
                    sizeof(target)) == 0) {
          pairs_.push_back({client, server});
        } else {
          if (server >= 0) close(server);
          close(client);
        }
      }
    }
    // One connection's either end closing closes both.
    std::vector<size_t> broken;
    for (size_t i = 0; i < pairs.size(); ++i) {
      const pollfd& from_client = fds[2 + 2 * i];
      const pollfd& from_server = fds[3 + 2 * i];
      char buffer[16384];
      bool ok = true;
      if (from_client.revents != 0) {
        const ssize_t n = read(pairs[i].client, buffer, sizeof(buffer));
        ok = n > 0 && WriteAll(pairs[i].server, buffer, n);
      }
      if (ok && from_server.revents != 0) {
        const ssize_t n = read(pairs[i].server, buffer, sizeof(buffer));
        ok = n > 0 && WriteAll(pairs[i].client, buffer, n);
      }
      if (!ok) broken.push_back(i);
    }
    if (broken.empty()) continue;
    MutexLock lock(&mu_);
    for (size_t i : broken) {
      for (auto it = pairs_.begin(); it != pairs_.end(); ++it) {
        if (it->client != pairs[i].client) continue;
        close(it->client);
        close(it->server);
        pairs_.erase(it);
        break;
      }
    }
  }
}

}  // namespace tokenservice
