// The gRPC channel to etcd for fleet mode: TLS and client certificates
// from PEM files when given (read once, at start), and a reconnect backoff
// short enough that a replica is back within seconds of etcd (gRPC's
// default grows to two minutes).

#ifndef SERVER_FLEET_ETCD_CHANNEL_H_
#define SERVER_FLEET_ETCD_CHANNEL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace tokenservice {

struct EtcdChannelOptions {
  // A gRPC target (FleetConfig::etcd_target).
  std::string target;
  // PEM files; plaintext when ca_file is empty.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

// kFailedPrecondition naming the flag of a file that cannot be read.
absl::StatusOr<std::shared_ptr<grpc::Channel>> NewEtcdChannel(
    const EtcdChannelOptions& options);

}  // namespace tokenservice

#endif  // SERVER_FLEET_ETCD_CHANNEL_H_
