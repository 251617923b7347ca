// A stand-in for kube-proxy in front of replicas on loopback: one TCP
// address that sends each new connection to a backend picked at random from
// its current list, and relays bytes both ways until either side closes.
// The test changes the list, as late as Kubernetes' endpoint updates come;
// connections already relayed are left alone, as kube-proxy leaves them.

#ifndef TESTS_TESTING_TCP_FRONT_H_
#define TESTS_TESTING_TCP_FRONT_H_

#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"

namespace tokenservice {

// Thread-safe.
class TcpFront {
 public:
  // Listens on 127.0.0.1, a free port.
  static absl::StatusOr<std::unique_ptr<TcpFront>> Start();

  // Stops accepting, cuts every relayed connection and joins its threads.
  ~TcpFront();

  int port() const { return port_; }

  // Backend ports (on 127.0.0.1) for new connections.
  void SetBackends(std::vector<int> ports) ABSL_LOCKS_EXCLUDED(mu_);

  // Cuts every connection relayed so far, both ends at once, as a network
  // partition would; new ones still go to the backends (none: refused).
  void CutConnections() ABSL_LOCKS_EXCLUDED(mu_);

  // Connections sent to `port` so far.
  int ConnectionsTo(int port) const ABSL_LOCKS_EXCLUDED(mu_);

  // Connections accepted with no backend to send them to, or whose backend
  // refused them: the client saw its connection closed at once.
  int Refused() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  TcpFront(int listen_fd, int port, int stop_fd);

  void AcceptLoop();
  // Relays one accepted connection to a backend (or refuses it).
  void Route(int client_fd) ABSL_LOCKS_EXCLUDED(mu_);

  const int listen_fd_;
  const int port_;
  const int stop_fd_;  // eventfd, readable once stopping
  mutable Mutex mu_;
  std::vector<int> backends_ ABSL_GUARDED_BY(mu_);
  std::map<int, int> connections_to_ ABSL_GUARDED_BY(mu_);
  int refused_ ABSL_GUARDED_BY(mu_) = 0;
  absl::BitGen random_ ABSL_GUARDED_BY(mu_);
  // Both ends of every relayed connection, shut down on stop.
  std::vector<int> relayed_fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> relays_ ABSL_GUARDED_BY(mu_);
  std::thread acceptor_;
};

}  // namespace tokenservice

#endif  // TESTS_TESTING_TCP_FRONT_H_
