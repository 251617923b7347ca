#include "server/token_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/mutex.h"
#include "base/timers.h"
#include "server/fleet/etcd_channel.h"
#include "server/fleet/etcd_tokens.h"
#include "server/fleet/fleet_keyring.h"
#include "server/ops/error_reason.h"
#include "server/ops/listen_check.h"
#include "server/ops/log.h"
#include "server/rpc/grpc_limits.h"
#include "server/upstream/curl_http_transport.h"
#include "server/upstream/mypos_oauth_client.h"
#include "server/upstream/retrying_oauth_client.h"

namespace tokenservice {
namespace {

// This replica's name in the fleet: the host (a pod's name) and process,
// and a random part, so that replicas in one process (tests) or one host
// (the demo) never collide.
std::string ReplicaId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  std::random_device random;
  return absl::StrCat(host[0] == '\0' ? "replica" : host, "-", getpid(), "-",
                      absl::Hex(random() & 0xffff, absl::kZeroPad4));
}

// Fleet mode's parts, not started yet; both null outside fleet mode.
struct Fleet {
  std::unique_ptr<EtcdRevocations> revocations;
  std::unique_ptr<EtcdTokens> tokens;
};

absl::StatusOr<Fleet> NewFleet(const FleetConfig& config, const Clock* clock,
                               Timers* timers) {
  if (!config.enabled()) return Fleet{};
  // The keys are checked at start, so that a broken Secret stops start-up.
  absl::StatusOr<FleetKeyring> keys = FleetKeyring::Load(config.keys_dir);
  if (!keys.ok()) return keys.status();
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      NewEtcdChannel({config.etcd_target, config.etcd_ca_file,
                      config.etcd_cert_file, config.etcd_key_file});
  if (!channel.ok()) return channel.status();
  EtcdRevocationsOptions options;
  options.prefix = config.etcd_prefix;
  options.replica_id = ReplicaId();
  options.confirm_timeout = config.revoke_timeout;
  Log(LogLevel::kInfo, "fleet_mode",
      "fleet mode: sharing tokens and revocations with the other replicas "
      "through etcd",
      {{"replica", options.replica_id},
       {"etcd", config.etcd_target},
       {"prefix", config.etcd_prefix}});
  Fleet fleet;
  fleet.revocations =
      std::make_unique<EtcdRevocations>(*channel, options, clock);
  EtcdTokensOptions token_options;
  token_options.prefix = config.etcd_prefix;
  token_options.replica_id = options.replica_id;
  token_options.keys_dir = config.keys_dir;
  fleet.tokens = std::make_unique<EtcdTokens>(
      *std::move(channel), token_options, *std::move(keys),
      fleet.revocations.get(), timers, clock);
  return fleet;
}

// The answer to a call still waiting when the shutdown grace ends: retry
// elsewhere; but a user's grant exchange may have reached myPOS, and its
// grant must not be sent again.
absl::Status ShuttingDownStatus(RpcMethod method) {
  if (method == RpcMethod::kExchangeGrant) {
    return WithReason(
        absl::UnknownError(
            "the server shut down before myPOS answered the exchange; the "
            "grant may be spent: do not send it again"),
        kReasonUpstreamOutcomeUnknown);
  }
  return WithReason(
      absl::UnavailableError(
          "the server is shutting down and the call did not complete within "
          "--shutdown_grace; retry: another replica answers"),
      kReasonServerShuttingDown);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenServer>> TokenServer::Start(
    const ServerConfig& config, std::shared_ptr<HttpTransport> transport) {
  // Ports in use stop start-up before anything is built or logged.
  if (absl::Status status = CheckCanListen(config.listen_address);
      !status.ok()) {
    return absl::UnavailableError(absl::StrCat("--listen: ", status.message()));
  }
  if (absl::Status status = CheckCanListen(config.admin_listen_address);
      !status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("--admin_listen: ", status.message()));
  }
  std::unique_ptr<TokenServer> s(new TokenServer());
  if (transport == nullptr) {
    CurlHttpTransport::Options options;
    options.ca_bundle_file = config.ca_bundle_file;
    options.max_attempt_timeout = config.upstream_attempt_timeout;
    options.max_connections_per_host = config.max_upstream_connections;
    transport = std::make_shared<CurlHttpTransport>(options);
  }
  s->transport_ = std::move(transport);
  s->timers_ = std::make_unique<ThreadTimers>();
  MyposOAuthClient::Options upstream_options;
  upstream_options.token_url = config.token_url;
  upstream_options.revoke_url = config.revoke_url;
  upstream_options.reply = config.token_reply;
  s->upstream_ = std::make_unique<RetryingOAuthClient>(
      config.retry,
      std::make_unique<MyposOAuthClient>(upstream_options, s->transport_,
                                         &s->metrics_),
      &s->clock_, s->timers_.get());
  s->credentials_ = std::make_unique<CredentialStore>(config.default_profile,
                                                      config.profiles);
  for (const CredentialProfile& profile : config.profiles) {
    s->metrics_.AddProfile(profile.name);
  }
  absl::StatusOr<Fleet> fleet =
      NewFleet(config.fleet, &s->clock_, s->timers_.get());
  if (!fleet.ok()) return fleet.status();
  absl::StatusOr<std::unique_ptr<TokenBroker>> broker = TokenBroker::Create(
      config.broker, s->credentials_.get(), s->upstream_.get(),
      s->timers_.get(), &s->clock_, &s->metrics_, fleet->revocations.get(),
      fleet->tokens.get());
  if (!broker.ok()) return broker.status();
  s->broker_ = *std::move(broker);
  s->fleet_ = std::move(fleet->revocations);
  s->fleet_tokens_ = std::move(fleet->tokens);
  if (s->fleet_ != nullptr) {
    TokenBroker* raw_broker = s->broker_.get();
    EtcdTokens* raw_tokens = s->fleet_tokens_.get();
    s->fleet_->Start(
        [raw_broker](absl::string_view fingerprint, absl::Time expires) {
          raw_broker->ApplySharedRevocation(fingerprint, expires);
        },
        [raw_tokens](const mvccpb::Event* event) {
          raw_tokens->OnEvent(event);
        });
  }
  GrantExchange::Options grant_options;
  grant_options.upstream_timeout = config.broker.upstream_timeout;
  grant_options.deadline_margin = config.broker.deadline_margin;
  grant_options.max_in_flight = config.broker.max_caller_fetches;
  s->grants_ = std::make_unique<GrantExchange>(
      grant_options, s->credentials_.get(), s->upstream_.get(), &s->clock_,
      &s->metrics_);
  s->policy_ =
      std::make_unique<CallerPolicy>(config.callers, config.caller_credentials);
  absl::StatusOr<std::unique_ptr<GrpcServerMetrics>> grpc_metrics =
      GrpcServerMetrics::Create(
          s->metrics_.registry(),
          {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"},
          /*recorded_by_handlers=*/{kServiceName});
  if (!grpc_metrics.ok()) return grpc_metrics.status();
  s->grpc_metrics_ = *std::move(grpc_metrics);
  s->service_ = std::make_unique<TokenServiceImpl>(
      s->broker_.get(), s->grants_.get(), &s->pending_, s->policy_.get(),
      s->grpc_metrics_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen_address, Credentials(config),
                           &s->port_);
  builder.SetMaxReceiveMessageSize(kMaxRequestBytes);
  // gRPC binds with SO_REUSEPORT by default, so a second server on the same
  // port would start and silently take part of the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  ApplyLimits(config.grpc, &builder);
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(s->grpc_metrics_->InterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  builder.RegisterService(s->service_.get());
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("--listen: cannot listen on ", config.listen_address));
  }
  s->server_->GetHealthCheckService()->SetServingStatus(kServiceName, true);
  s->serving_ = true;
  s->metrics_.SetServing(true);
  if (!config.admin_listen_address.empty()) {
    TokenServer* raw = s.get();
    auto admin = AdminServer::Start(
        config.admin_listen_address,
        [raw] {
          if (raw->fleet_ != nullptr) {
            raw->metrics_.SetFleetStatus(raw->fleet_->connected(),
                                         raw->fleet_->live_replicas(),
                                         raw->fleet_->unpublished());
            const LoadedKeys keys = raw->fleet_tokens_->loaded_keys();
            raw->metrics_.SetFleetKeys(keys.ids, keys.active);
          }
          return raw->metrics_.Render(raw->broker_->AllTokens(),
                                      raw->clock_.Now());
        },
        [raw] { return raw->serving_.load(); });
    if (!admin.ok()) return admin.status();
    s->admin_ = *std::move(admin);
  }
  if (s->policy_->open()) {
    Log(LogLevel::kWarning, "caller_policy_open",
        "no callers are configured: EVERY caller may issue, revoke and "
        "read metadata for EVERY credential profile; list callers in "
        "--config to restrict this");
  }
  return s;
}

std::shared_ptr<grpc::ServerCredentials> TokenServer::Credentials(
    const ServerConfig& config) {
  if (config.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  // The provider re-reads the files every interval, so rotated
  // certificates take effect without a restart.
  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          config.tls_key_file, config.tls_cert_file, config.tls_client_ca_file,
          absl::ToInt64Seconds(config.tls_reload_interval));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!config.tls_client_ca_file.empty()) {
    options.watch_root_certs();
    // Verified when presented; callers with a key need none.
    options.set_cert_request_type(
        GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

int TokenServer::admin_port() const {
  return admin_ == nullptr ? 0 : admin_->port();
}

TokenServer::~TokenServer() {
  Shutdown(absl::Now());
  admin_.reset();
  // Leaves the fleet; Revoke calls still waiting for it are answered, and
  // what that sends to myPOS is drained below.
  // Fetches waiting for other replicas ask myPOS instead (and are drained
  // below); then the session ends, releasing this replica's locks.
  if (fleet_tokens_ != nullptr) fleet_tokens_->Stop();
  if (fleet_ != nullptr) fleet_->Stop();
  // Nothing may call back into the broker once it is gone. A timer's task
  // (a retry) posts, and is answered on the transport's thread; an answer
  // could start a timer. So both are drained in turn until neither has
  // anything left (in practice one round: once the transport is shut down
  // every answer is a final error, which starts no timer). The members
  // then go in reverse order: the broker and the clients before the
  // timers and the transport.
  if (timers_ == nullptr) return;
  do {
    timers_->Drain();
    transport_->Shutdown();
  } while (!timers_->Idle());
}

void TokenServer::BeginDrain() {
  serving_ = false;
  metrics_.SetServing(false);
  // Start() may have failed before the server existed.
  if (server_ != nullptr) {
    server_->GetHealthCheckService()->SetServingStatus(false);
  }
}

void TokenServer::Shutdown(absl::Time deadline) {
  if (shut_down_) return;
  shut_down_ = true;
  BeginDrain();
  // Watch streams never end by themselves: end them first, so that their
  // clients reconnect elsewhere and the shutdown does not wait for them.
  if (service_ != nullptr) service_->CloseWatches();
  if (server_ != nullptr) {
    // At `deadline` the requests still under way at myPOS are ended, which
    // answers the calls waiting on them UNAVAILABLE with reason
    // SERVER_SHUTTING_DOWN (so their callers know to retry elsewhere), and
    // any call still waiting then is answered the same way; gRPC's own
    // cancellation, kAnswerMargin later, only catches what could not be
    // answered.
    Mutex mu;
    bool drained = false;
    std::thread answer([this, deadline, &mu, &drained] {
      MutexLock lock(&mu);
      if (!mu.AwaitWithDeadline(absl::Condition(&drained), deadline)) {
        StopUpstream();
      }
    });
    // Returns once every call has finished.
    server_->Shutdown(absl::ToChronoTime(deadline + kAnswerMargin));
    {
      MutexLock lock(&mu);
      drained = true;
    }
    answer.join();
  }
  // Every caller has its answer: refreshes and revocations still under way
  // end now rather than run for nobody.
  StopUpstream();
}

void TokenServer::StopUpstream() {
  // The transport first: its requests end and their callers are answered
  // through the broker. Then every call still waiting (on a retry's
  // backoff, say) is answered here, before the timers run early: a
  // caller's deadline timer run early must not answer it first.
  if (transport_ != nullptr) transport_->Shutdown();
  pending_.FinishAll(&ShuttingDownStatus);
  if (timers_ != nullptr) timers_->Shutdown();
}

}  // namespace tokenservice
