// AdminServer: the plain-HTTP admin port. /metrics serves the Prometheus
// text format; /healthz answers 200 while the gRPC server is serving and
// 503 once it drains, for checks that do not speak gRPC.
//
// Nobody authenticates on this port, so what one connection can take is
// bounded: a request body over kMaxAdminBodyBytes gets 413 (nothing here
// takes a body), a connection that sends nothing for kAdminReadTimeout is
// closed, one request per connection (no keep-alive to hold a worker), and
// kAdminWorkers threads serve, so that dozens of slow connections still
// leave /healthz and /metrics answered.

#ifndef SERVER_OPS_ADMIN_SERVER_H_
#define SERVER_OPS_ADMIN_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace tokenservice {

inline constexpr size_t kMaxAdminBodyBytes = 16 * 1024;
inline constexpr int kAdminReadTimeoutSeconds = 1;
inline constexpr int kAdminWorkers = 96;

// Thread-safe.
class AdminServer {
 public:
  // Listens on `address` (HOST:PORT, port 0 picks one). `metrics` renders
  // the /metrics body; `serving` says whether /healthz is healthy. Both are
  // called on the admin server's threads. kUnavailable if it cannot bind.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Start(
      const std::string& address, std::function<std::string()> metrics,
      std::function<bool()> serving);

  // Stops serving and joins the server thread.
  ~AdminServer();

  int port() const { return port_; }

 private:
  AdminServer() = default;

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace tokenservice

#endif  // SERVER_OPS_ADMIN_SERVER_H_
