// A real etcd for tests: Debian's /usr/bin/etcd (3.4) on loopback ports it
// picks, with its data in a directory of the test's, killed with SIGKILL
// and restarted on the same ports with the same data when a test says so.
//
//   auto etcd = EtcdServer::Start(absl::StrCat(getenv("TEST_TMPDIR"),
//   "/etcd"));
//   ... grpc::CreateChannel((*etcd)->endpoint(), ...) ...
//   (*etcd)->Kill();               // as a crashed member: no clean shutdown
//   ASSERT_TRUE((*etcd)->Restart().ok());

#ifndef TESTS_TESTING_ETCD_SERVER_H_
#define TESTS_TESTING_ETCD_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/testing/subprocess.h"

namespace tokenservice {

// A plaintext channel to `endpoint` that reconnects within half a second
// once etcd is back (gRPC's default backoff grows to two minutes). Not
// GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: it also bounds each connection
// attempt (see server/fleet/etcd_channel.cc).
std::shared_ptr<grpc::Channel> EtcdTestChannel(const std::string& endpoint);
// The same, with client interceptors on every call.
std::shared_ptr<grpc::Channel> EtcdTestChannel(
    const std::string& endpoint,
    std::vector<
        std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
        interceptors);

// Not thread-safe: one test owns it.
class EtcdServer {
 public:
  // Starts etcd with its data in `data_dir` (created if missing) and
  // returns once it answers on its client port. kFailedPrecondition when
  // /usr/bin/etcd is not installed (scripts/install_deps.sh installs it).
  static absl::StatusOr<std::unique_ptr<EtcdServer>> Start(
      const std::string& data_dir);

  // SIGKILLs etcd if it runs, and removes its data directory.
  ~EtcdServer();

  // HOST:PORT of the client port, for a gRPC channel.
  std::string endpoint() const;

  // SIGKILLs etcd and waits until it has exited.
  void Kill();
  // Starts it again on the same ports with the same data, and returns once
  // it answers.
  absl::Status Restart();

 private:
  EtcdServer(std::string data_dir, int client_port, int peer_port);
  absl::Status Launch();

  const std::string data_dir_;
  const int client_port_;
  const int peer_port_;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace tokenservice

#endif  // TESTS_TESTING_ETCD_SERVER_H_
