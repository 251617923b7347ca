// TcpProxy: a loopback TCP forwarder for tests that need one connection
// cut while others stay up (a partition between one client and a server).
//
//   auto proxy = TcpProxy::Start(etcd_port);
//   ... grpc::CreateChannel((*proxy)->endpoint(), ...) ...
//   (*proxy)->Sever();    // every connection closed, new ones refused
//   (*proxy)->Restore();  // new connections forwarded again

#ifndef TESTS_TESTING_TCP_PROXY_H_
#define TESTS_TESTING_TCP_PROXY_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "base/mutex.h"

namespace tokenservice {

// Thread-safe.
class TcpProxy {
 public:
  // Listens on 127.0.0.1 (a port of its choosing) and forwards each
  // connection to 127.0.0.1:`target_port`.
  static absl::StatusOr<std::unique_ptr<TcpProxy>> Start(int target_port);
  ~TcpProxy();

  // 127.0.0.1:PORT, for a gRPC channel.
  std::string endpoint() const;

  // Closes every connection (before it returns); until Restore, each new
  // one is closed as soon as it is accepted. False if the forwarding
  // thread did not get round to it within 10 s (a peer stopped reading).
  [[nodiscard]] bool Sever() ABSL_LOCKS_EXCLUDED(mu_);
  void Restore() ABSL_LOCKS_EXCLUDED(mu_);

  TcpProxy(int listen_fd, int port, int target_port, int wake_read,
           int wake_write);

 private:
  struct Pair {
    int client;
    int server;
  };

  void Loop();
  void Wake();
  void CloseAllLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int listen_fd_;
  const int port_;
  const int target_port_;
  const int wake_read_;
  const int wake_write_;
  Mutex mu_;
  bool severed_ ABSL_GUARDED_BY(mu_) = false;
  bool sever_applied_ ABSL_GUARDED_BY(mu_) = false;  // by Loop
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Pair> pairs_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // last: starts once the fields above exist
};

}  // namespace tokenservice

#endif  // TESTS_TESTING_TCP_PROXY_H_
