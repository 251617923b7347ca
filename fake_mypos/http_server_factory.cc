#include "fake_mypos/http_server_factory.h"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <ctime>
#include <functional>
#include <utility>

namespace tokenservice {
namespace fake_mypos {
namespace {

constexpr size_t kMaxRequestsPerConnection = 1000;
constexpr time_t kKeepAliveTimeoutSeconds = 1;
constexpr size_t kMaxBodyBytes = 64 * 1024;

// An httplib task queue that counts what httplib gives it: one task per
// accepted TCP connection.
class CountingTaskQueue : public httplib::TaskQueue {
 public:
  CountingTaskQueue(size_t threads, std::atomic<int>* accepted)
      : pool_(threads), accepted_(accepted) {}

  void enqueue(std::function<void()> fn) override {
    accepted_->fetch_add(1);
    pool_.enqueue(std::move(fn));
  }
  void shutdown() override { pool_.shutdown(); }

 private:
  httplib::ThreadPool pool_;
  std::atomic<int>* const accepted_;
};

}  // namespace

std::unique_ptr<httplib::Server> MakeHttpServer(const std::string& cert_file,
                                                const std::string& key_file,
                                                size_t worker_threads,
                                                std::atomic<int>* accepted) {
  std::unique_ptr<httplib::Server> server;
  if (cert_file.empty() || key_file.empty()) {
    server = std::make_unique<httplib::Server>();
  } else {
    server = std::make_unique<httplib::SSLServer>(cert_file.c_str(),
                                                  key_file.c_str());
  }
  const size_t threads = std::max<size_t>(1, worker_threads);
  server->new_task_queue = [threads, accepted] {
    return new CountingTaskQueue(threads, accepted);
  };
  server->set_keep_alive_max_count(kMaxRequestsPerConnection);
  server->set_keep_alive_timeout(kKeepAliveTimeoutSeconds);
  server->set_tcp_nodelay(true);  // replies are written in parts
  server->set_payload_max_length(kMaxBodyBytes);
  // httplib's default adds SO_REUSEPORT, which would let a second server
  // share a port that is in use instead of failing to start.
  server->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  return server;
}

int Bind(httplib::Server& server, const std::string& host, int port) {
  // httplib does not hand out its listening socket; the socket-options hook
  // sees it just before bind(2), and listen(2) again widens the backlog.
  socket_t listener = INVALID_SOCKET;
  server.set_socket_options([&listener](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listener = sock;
  });
  const int bound = port == 0 ? server.bind_to_any_port(host)
                              : (server.bind_to_port(host, port) ? port : -1);
  if (bound < 0 || listener == INVALID_SOCKET ||
      listen(listener, kListenBacklog) != 0) {
    return -1;
  }
  return bound;
}

int TlsHandshakes(httplib::Server& server, bool tls) {
  if (!tls) return 0;
  return static_cast<int>(SSL_CTX_sess_accept_good(
      static_cast<httplib::SSLServer&>(server).ssl_context()));
}

}  // namespace fake_mypos
}  // namespace tokenservice
