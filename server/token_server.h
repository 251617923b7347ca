// TokenServer: the assembled service — transport, myPOS client with
// retries, broker, grant exchange, gRPC services (TokenService, grpc.health.v1,
// reflection) — listening on one port. main.cc runs one; integration tests run
// one on loopback.

#ifndef SERVER_TOKEN_SERVER_H_
#define SERVER_TOKEN_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/timers.h"
#include "server/broker/grant_exchange.h"
#include "server/broker/token_broker.h"
#include "server/config/server_config.h"
#include "server/fleet/etcd_revocations.h"
#include "server/fleet/etcd_tokens.h"
#include "server/ops/admin_server.h"
#include "server/ops/metrics.h"
#include "server/rpc/grpc_server_metrics.h"
#include "server/rpc/token_service_impl.h"
#include "server/upstream/http_transport.h"
#include "server/upstream/oauth_client.h"

namespace tokenservice {

// The name under which grpc.health.v1 reports TokenService.
inline constexpr char kServiceName[] = "mypos.token.v1.TokenService";

// How long after --shutdown_grace the calls answered at its end have to
// reach their callers before gRPC cancels what is left.
inline constexpr absl::Duration kAnswerMargin = absl::Seconds(1);

// Largest request accepted: requests are a few KiB at most.
inline constexpr int kMaxRequestBytes = 64 * 1024;

// Thread-safe.
class TokenServer {
 public:
  // Starts serving `config.listen_address` (port 0 picks a free one).
  // `transport` defaults to libcurl. Time is the system clock's, as the
  // timers' and the transport's are.
  // kInvalidArgument / kUnavailable when the address cannot be served.
  static absl::StatusOr<std::unique_ptr<TokenServer>> Start(
      const ServerConfig& config,
      std::shared_ptr<HttpTransport> transport = nullptr);

  // Stops the server (see Shutdown) if still running.
  ~TokenServer();

  // The ports actually bound (admin: 0 when disabled).
  int port() const { return port_; }
  int admin_port() const;
  // Fleet mode's revocations (null outside fleet mode), for its status.
  const EtcdRevocations* fleet() const { return fleet_.get(); }

  // Reports NOT_SERVING on grpc.health.v1 (every service) and 503 on the
  // admin /healthz, and goes on accepting connections and serving every
  // call: load balancers and Kubernetes endpoints take the replica out
  // while it still answers. main.cc calls it on SIGTERM, --drain_delay
  // before Shutdown. Idempotent.
  void BeginDrain();

  // Begins the drain if not yet begun, stops listening, sends GOAWAY on
  // every connection (new calls go to another replica; calls racing the
  // GOAWAY are refused in a way gRPC clients retry transparently), and
  // waits until `deadline` for calls in flight; then ends every request still
  // under way at myPOS, answering the calls waiting on them, and any call still
  // waiting, with UNAVAILABLE (reason SERVER_SHUTTING_DOWN; ExchangeGrant:
  // UNKNOWN, UPSTREAM_OUTCOME_UNKNOWN). Returns by `deadline` +
  // kAnswerMargin, with no request to myPOS left under way.
  void Shutdown(absl::Time deadline);

 private:
  TokenServer() = default;

  // Ends every request to myPOS at once, answers every call still waiting
  // (SERVER_SHUTTING_DOWN), then lets every timer run at once. Idempotent.
  void StopUpstream();

  // Insecure, TLS, or mTLS server credentials as `config` says.
  static std::shared_ptr<grpc::ServerCredentials> Credentials(
      const ServerConfig& config);

  const SystemClock clock_;
  Metrics metrics_;
  std::unique_ptr<GrpcServerMetrics> grpc_metrics_;
  // Before everything that may hold a call (the broker's waiters), so that
  // it outlives them.
  PendingCalls pending_;
  std::atomic<bool> serving_{false};
  // Destroyed after everything that hands them callbacks (declared later):
  // the timers, then the transport, run what is left on their way out.
  std::shared_ptr<HttpTransport> transport_;
  std::unique_ptr<ThreadTimers> timers_;
  std::unique_ptr<OAuthClient> upstream_;
  std::unique_ptr<CredentialStore> credentials_;
  // Fleet mode only. Before the broker, which holds it: it outlives the
  // broker, and is stopped (its threads, which call the broker, joined)
  // before the timers and the transport drain.
  std::unique_ptr<EtcdRevocations> fleet_;
  // Its tokens: on fleet_'s session and watch, so destroyed before it.
  std::unique_ptr<EtcdTokens> fleet_tokens_;
  std::unique_ptr<TokenBroker> broker_;
  std::unique_ptr<CallerPolicy> policy_;
  std::unique_ptr<GrantExchange> grants_;
  std::unique_ptr<TokenServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<AdminServer> admin_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace tokenservice

#endif  // SERVER_TOKEN_SERVER_H_
