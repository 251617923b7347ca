#include "tests/testing/tcp_front.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tokenservice {
namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// Copies `from` to `to` until `from` ends, then ends `to`'s write side (a
// FIN, as a proxy forwards it). On an error both are cut.
void Pump(int from, int to) {
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t n = read(from, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      shutdown(to, n == 0 ? SHUT_WR : SHUT_RDWR);
      if (n < 0) shutdown(from, SHUT_RDWR);
      return;
    }
    for (ssize_t sent = 0; sent < n;) {
      const ssize_t w = send(to, buffer + sent, n - sent, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        shutdown(from, SHUT_RDWR);
        shutdown(to, SHUT_RDWR);
        return;
      }
      sent += w;
    }
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpFront>> TcpFront::Start() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket");
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(fd, 1024) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return absl::InternalError(absl::StrCat("listen: ", std::strerror(errno)));
  }
  const int stop = eventfd(0, EFD_CLOEXEC);
  if (stop < 0) {
    close(fd);
    return absl::InternalError("eventfd");
  }
  std::unique_ptr<TcpFront> front(new TcpFront(fd, ntohs(addr.sin_port), stop));
  front->acceptor_ = std::thread([raw = front.get()] { raw->AcceptLoop(); });
  return front;
}

TcpFront::TcpFront(int listen_fd, int port, int stop_fd)
    : listen_fd_(listen_fd), port_(port), stop_fd_(stop_fd) {}

TcpFront::~TcpFront() {
  const uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof one);
  acceptor_.join();
  std::vector<std::thread> relays;
  std::vector<int> fds;
  {
    MutexLock lock(&mu_);
    relays.swap(relays_);
    fds.swap(relayed_fds_);
  }
  for (int fd : fds) shutdown(fd, SHUT_RDWR);
  for (std::thread& t : relays) t.join();
  for (int fd : fds) close(fd);
  close(listen_fd_);
  close(stop_fd_);
}

void TcpFront::CutConnections() {
  MutexLock lock(&mu_);
  // Closed only by the destructor, so these are still ours.
  for (int fd : relayed_fds_) shutdown(fd, SHUT_RDWR);
}

void TcpFront::SetBackends(std::vector<int> ports) {
  MutexLock lock(&mu_);
  backends_ = std::move(ports);
}

int TcpFront::ConnectionsTo(int port) const {
  MutexLock lock(&mu_);
  auto it = connections_to_.find(port);
  return it == connections_to_.end() ? 0 : it->second;
}

int TcpFront::Refused() const {
  MutexLock lock(&mu_);
  return refused_;
}

void TcpFront::AcceptLoop() {
  pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client >= 0) Route(client);
  }
}

void TcpFront::Route(int client_fd) {
  int backend = 0;
  {
    MutexLock lock(&mu_);
    if (!backends_.empty()) {
      backend = backends_[absl::Uniform<size_t>(random_, 0, backends_.size())];
    }
  }
  const int upstream =
      backend == 0 ? -1 : socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_in addr = Loopback(backend);
  if (upstream < 0 ||
      connect(upstream, reinterpret_cast<const sockaddr*>(&addr),
              sizeof addr) != 0) {
    if (upstream >= 0) close(upstream);
    close(client_fd);
    MutexLock lock(&mu_);
    ++refused_;
    return;
  }
  MutexLock lock(&mu_);
  ++connections_to_[backend];
  relayed_fds_.push_back(client_fd);
  relayed_fds_.push_back(upstream);
  relays_.emplace_back([client_fd, upstream] { Pump(client_fd, upstream); });
  relays_.emplace_back([client_fd, upstream] { Pump(upstream, client_fd); });
}

}  // namespace tokenservice
