#include "tests/testing/etcd_server.h"

#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace tokenservice {
namespace {

constexpr char kEtcd[] = "/usr/bin/etcd";
// How long etcd may take to answer after it was started (it replays its
// write-ahead log after a SIGKILL).
constexpr absl::Duration kStartTimeout = absl::Seconds(30);

// A port that was free a moment ago on 127.0.0.1 (etcd cannot be told to
// pick one and say which).
absl::StatusOr<int> FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  const bool ok =
      bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  if (!ok) return absl::InternalError("bind to 127.0.0.1:0 failed");
  return ntohs(addr.sin_port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdServer>> EtcdServer::Start(
    const std::string& data_dir) {
  if (access(kEtcd, X_OK) != 0) {
    return absl::FailedPreconditionError(
        "no /usr/bin/etcd: bash scripts/install_deps.sh installs etcd-server");
  }
  mkdir(data_dir.c_str(), 0700);
  absl::StatusOr<int> client = FreePort();
  if (!client.ok()) return client.status();
  absl::StatusOr<int> peer = FreePort();
  if (!peer.ok()) return peer.status();
  std::unique_ptr<EtcdServer> etcd(new EtcdServer(data_dir, *client, *peer));
  if (absl::Status status = etcd->Launch(); !status.ok()) return status;
  return etcd;
}

EtcdServer::EtcdServer(std::string data_dir, int client_port, int peer_port)
    : data_dir_(std::move(data_dir)),
      client_port_(client_port),
      peer_port_(peer_port) {}

EtcdServer::~EtcdServer() {
  Kill();
  // Over 100 MB of preallocated write-ahead log each: not left for the
  // test's sandbox to hold.
  std::error_code ignored;
  std::filesystem::remove_all(data_dir_, ignored);
}

std::shared_ptr<grpc::Channel> EtcdTestChannel(const std::string& endpoint) {
  return EtcdTestChannel(endpoint, {});
}

std::shared_ptr<grpc::Channel> EtcdTestChannel(
    const std::string& endpoint,
    std::vector<
        std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
        interceptors) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      endpoint, grpc::InsecureChannelCredentials(), args,
      std::move(interceptors));
}

std::string EtcdServer::endpoint() const {
  return absl::StrCat("127.0.0.1:", client_port_);
}

void EtcdServer::Kill() {
  if (process_ == nullptr) return;
  process_->Signal(SIGKILL);
  process_->Wait();
  process_.reset();
}

absl::Status EtcdServer::Restart() {
  Kill();
  return Launch();
}

absl::Status EtcdServer::Launch() {
  const std::string client_url = absl::StrCat("http://", endpoint());
  const std::string peer_url = absl::StrCat("http://127.0.0.1:", peer_port_);
  auto process = Subprocess::Start({
      kEtcd,
      "--name=test",
      "--data-dir=" + data_dir_,
      "--listen-client-urls=" + client_url,
      "--advertise-client-urls=" + client_url,
      "--listen-peer-urls=" + peer_url,
      "--initial-advertise-peer-urls=" + peer_url,
      "--initial-cluster=test=" + peer_url,
      "--logger=zap",
      "--log-level=error",
  });
  if (!process.ok()) return process.status();
  process_ = *std::move(process);
  // Ready when a read answers: the client port is up and the member has
  // elected itself leader. Each attempt waits for the port (wait for
  // ready); one that etcd drops while it finishes starting is made again.
  auto kv = etcdserverpb::KV::NewStub(
      grpc::CreateChannel(endpoint(), grpc::InsecureChannelCredentials()));
  const absl::Time deadline = absl::Now() + kStartTimeout;
  grpc::Status status;
  do {
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    context.set_deadline(absl::ToChronoTime(deadline));
    etcdserverpb::RangeRequest request;
    request.set_key("ready?");
    etcdserverpb::RangeResponse response;
    status = kv->Range(&context, request, &response);
  } while (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
           absl::Now() < deadline);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "etcd did not answer on ", endpoint(), ": ", status.error_message()));
  }
  return absl::OkStatus();
}

}  // namespace tokenservice
