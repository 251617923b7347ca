#include "server/ops/admin_server.h"

#include <httplib.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tokenservice {

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Start(
    const std::string& address, std::function<std::string()> metrics,
    std::function<bool()> serving) {
  const size_t colon = address.rfind(':');
  int port = -1;
  std::string host = address.substr(0, colon == std::string::npos ? 0 : colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (colon == std::string::npos || host.empty() ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--admin_listen: \"", address, "\" is not HOST:PORT"));
  }
  std::unique_ptr<AdminServer> admin(new AdminServer());
  admin->server_ = std::make_unique<httplib::Server>();
  // cpp-httplib's default sets SO_REUSEPORT, which lets a second process
  // bind the same port and take part of the scrapes and probes. Only
  // SO_REUSEADDR, so that a restart can bind while old connections linger.
  admin->server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  httplib::Server& http = *admin->server_;
  http.set_payload_max_length(kMaxAdminBodyBytes);
  http.set_read_timeout(kAdminReadTimeoutSeconds, 0);
  http.set_write_timeout(2, 0);
  http.set_keep_alive_max_count(1);
  http.set_keep_alive_timeout(kAdminReadTimeoutSeconds);
  http.new_task_queue = [] { return new httplib::ThreadPool(kAdminWorkers); };
  admin->server_->Get(
      "/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
        res.set_content(metrics(), "text/plain; version=0.0.4; charset=utf-8");
      });
  admin->server_->Get(
      "/healthz", [serving](const httplib::Request&, httplib::Response& res) {
        const bool ok = serving();
        res.status = ok ? 200 : 503;
        res.set_content(ok ? "SERVING\n" : "NOT_SERVING\n", "text/plain");
      });
  admin->port_ = port == 0
                     ? admin->server_->bind_to_any_port(host)
                     : (admin->server_->bind_to_port(host, port) ? port : -1);
  if (admin->port_ <= 0) {
    return absl::UnavailableError(
        absl::StrCat("--admin_listen: cannot listen on ", address));
  }
  httplib::Server* server = admin->server_.get();
  admin->thread_ = std::thread([server] { server->listen_after_bind(); });
  // stop() is a no-op before the accept loop runs, so wait for it (the
  // socket already listens; this takes microseconds).
  while (!server->is_running()) std::this_thread::yield();
  return admin;
}

AdminServer::~AdminServer() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace tokenservice
