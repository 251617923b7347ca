// FleetConfig: fleet mode's flags (--etcd_*, --fleet_*). Without
// --etcd_endpoints the server is one replica on its own, exactly as
// before; with it, replicas share their revocations through etcd
// (docs/operations.md, "Fleet mode").

#ifndef SERVER_CONFIG_FLEET_CONFIG_H_
#define SERVER_CONFIG_FLEET_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tokenservice {

struct FleetConfig {
  // The gRPC target for --etcd_endpoints; empty outside fleet mode.
  std::string etcd_target;
  // PEM files: the CA that verifies etcd (TLS when set), and this
  // replica's client certificate and key for etcd's client-certificate
  // auth (both or neither).
  std::string etcd_ca_file;
  std::string etcd_cert_file;
  std::string etcd_key_file;
  // Every key the fleet writes is under it.
  std::string etcd_prefix = "/tokenservice/";
  // The keys that seal tokens written to etcd (server/fleet/fleet_keyring.h).
  std::string keys_dir;
  // The longest a Revoke waits for the other replicas to confirm.
  absl::Duration revoke_timeout = absl::Seconds(2);

  bool enabled() const { return !etcd_target.empty(); }
};

// The fleet flags, checked: HOST:PORT endpoints (several only as IP
// addresses; name one DNS name, such as etcd's client Service, instead),
// --fleet_keys_dir required, the TLS files readable and the cert and key
// together, a prefix that starts and ends with '/'. A fleet flag without
// --etcd_endpoints is an error rather than silently a replica on its own.
// kInvalidArgument naming the flag.
absl::StatusOr<FleetConfig> FleetConfigFromFlags();

}  // namespace tokenservice

#endif  // SERVER_CONFIG_FLEET_CONFIG_H_
