#include "server/fleet/etcd_channel.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/broker/credential_store.h"

namespace tokenservice {
namespace {

absl::StatusOr<std::string> Pem(const char* flag, const std::string& path) {
  if (path.empty()) return std::string();
  std::optional<std::string> pem = ReadTrimmedFile(path);
  if (!pem.has_value() || pem->empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--", flag, ": \"", path, "\" cannot be read or is empty"));
  }
  return *std::move(pem) + "\n";
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> NewEtcdChannel(
    const EtcdChannelOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  if (!options.ca_file.empty() || !options.cert_file.empty()) {
    grpc::SslCredentialsOptions ssl;
    absl::StatusOr<std::string> ca = Pem("etcd_ca_file", options.ca_file);
    absl::StatusOr<std::string> cert = Pem("etcd_cert_file", options.cert_file);
    absl::StatusOr<std::string> key = Pem("etcd_key_file", options.key_file);
    for (const auto* pem : {&ca, &cert, &key}) {
      if (!pem->ok()) return pem->status();
    }
    ssl.pem_root_certs = *std::move(ca);  // empty: the system's roots
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  // Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: it is also the least time a
  // connection attempt is given (20 s by default), and an etcd busy
  // replaying its log after a restart may take longer than a short one
  // to answer the handshake, so that every attempt would time out.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // A dead connection (a half-open TCP, a partitioned node) is noticed in
  // seconds, not when the kernel gives up; etcd refuses pings more often
  // than every 5 s (--grpc-keepalive-min-time).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  // The initial list of revocations may be large.
  args.SetMaxReceiveMessageSize(64 << 20);
  // Several endpoints: spread over them, and keep using the live ones.
  args.SetLoadBalancingPolicyName("round_robin");
  return grpc::CreateCustomChannel(options.target, credentials, args);
}

}  // namespace tokenservice
