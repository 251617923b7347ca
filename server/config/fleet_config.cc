#include "server/config/fleet_config.h"

#include <arpa/inet.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/broker/credential_store.h"

ABSL_FLAG(std::string, etcd_endpoints, "",
          "Fleet mode: etcd's client endpoints, HOST:PORT[,HOST:PORT...] "
          "(several only as IP addresses; or one DNS name). Empty (the "
          "default): this replica shares nothing.");
ABSL_FLAG(std::string, etcd_ca_file, "",
          "PEM CA bundle that verifies etcd; set it to talk TLS to etcd.");
ABSL_FLAG(std::string, etcd_cert_file, "",
          "PEM client certificate for etcd's client-certificate auth (with "
          "--etcd_key_file).");
ABSL_FLAG(std::string, etcd_key_file, "",
          "PEM private key of --etcd_cert_file.");
ABSL_FLAG(std::string, etcd_prefix, "/tokenservice/",
          "Every etcd key the fleet writes is under it; replicas of one "
          "fleet share it.");
ABSL_FLAG(std::string, fleet_keys_dir, "",
          "Fleet mode (required): directory of the keys that encrypt tokens "
          "written to etcd, one base64 file of 32 bytes per key, and "
          "'active' naming the key for new writes.");
ABSL_FLAG(absl::Duration, fleet_revoke_timeout, absl::Seconds(2),
          "Fleet mode: the longest a Revoke waits until every live replica "
          "has stopped handing the token out.");

namespace tokenservice {
namespace {

absl::Status Invalid(absl::string_view flag, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", problem));
}

enum class HostKind { kIpv4, kIpv6, kName };

// HOST:PORT with HOST an IPv4 address, [IPv6] or a DNS name.
absl::StatusOr<HostKind> CheckEndpoint(absl::string_view endpoint) {
  const size_t colon = endpoint.rfind(':');
  int port = 0;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(endpoint.substr(colon + 1), &port) || port < 1 ||
      port > 65535) {
    return Invalid("etcd_endpoints",
                   absl::StrCat("\"", endpoint, "\" is not HOST:PORT"));
  }
  const std::string host(endpoint.substr(0, colon));
  unsigned char address[16];
  if (inet_pton(AF_INET, host.c_str(), address) == 1) return HostKind::kIpv4;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']' &&
      inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), address) ==
          1) {
    return HostKind::kIpv6;
  }
  for (char c : host) {
    if (!(absl::ascii_isalnum(c) || c == '-' || c == '.')) {
      return Invalid("etcd_endpoints",
                     absl::StrCat("\"", endpoint, "\" is not HOST:PORT"));
    }
  }
  return HostKind::kName;
}

// The gRPC target for `endpoints`: one endpoint through the DNS resolver,
// several IP addresses through gRPC's ipv4:/ipv6: lists.
absl::StatusOr<std::string> Target(absl::string_view endpoints) {
  std::vector<std::string> list = absl::StrSplit(endpoints, ',');
  std::vector<HostKind> kinds;
  for (const std::string& endpoint : list) {
    absl::StatusOr<HostKind> kind = CheckEndpoint(endpoint);
    if (!kind.ok()) return kind.status();
    kinds.push_back(*kind);
  }
  if (list.size() == 1) return absl::StrCat("dns:///", list[0]);
  for (HostKind kind : kinds) {
    if (kind != kinds[0] || kind == HostKind::kName) {
      return Invalid("etcd_endpoints",
                     "several endpoints must all be IPv4 or all [IPv6] "
                     "addresses; for DNS names give one (etcd's client "
                     "Service)");
    }
  }
  if (kinds[0] == HostKind::kIpv6) {
    // gRPC's ipv6: list wants [addr]:port, as given.
    return absl::StrCat("ipv6:", absl::StrJoin(list, ","));
  }
  return absl::StrCat("ipv4:", absl::StrJoin(list, ","));
}

}  // namespace

absl::StatusOr<FleetConfig> FleetConfigFromFlags() {
  FleetConfig fleet;
  const std::string endpoints = absl::GetFlag(FLAGS_etcd_endpoints);
  fleet.etcd_ca_file = absl::GetFlag(FLAGS_etcd_ca_file);
  fleet.etcd_cert_file = absl::GetFlag(FLAGS_etcd_cert_file);
  fleet.etcd_key_file = absl::GetFlag(FLAGS_etcd_key_file);
  fleet.etcd_prefix = absl::GetFlag(FLAGS_etcd_prefix);
  fleet.keys_dir = absl::GetFlag(FLAGS_fleet_keys_dir);
  fleet.revoke_timeout = absl::GetFlag(FLAGS_fleet_revoke_timeout);
  if (endpoints.empty()) {
    for (const auto& [flag, value] : {std::pair<const char*, std::string>{
                                          "etcd_ca_file", fleet.etcd_ca_file},
                                      {"etcd_cert_file", fleet.etcd_cert_file},
                                      {"etcd_key_file", fleet.etcd_key_file},
                                      {"fleet_keys_dir", fleet.keys_dir}}) {
      if (!value.empty()) {
        return Invalid(flag, "is for fleet mode, which needs --etcd_endpoints");
      }
    }
    const FleetConfig defaults;
    if (fleet.etcd_prefix != defaults.etcd_prefix) {
      return Invalid("etcd_prefix",
                     "is for fleet mode, which needs --etcd_endpoints");
    }
    if (fleet.revoke_timeout != defaults.revoke_timeout) {
      return Invalid("fleet_revoke_timeout",
                     "is for fleet mode, which needs --etcd_endpoints");
    }
    return fleet;
  }
  absl::StatusOr<std::string> target = Target(endpoints);
  if (!target.ok()) return target.status();
  fleet.etcd_target = *std::move(target);
  if (fleet.keys_dir.empty()) {
    return Invalid("fleet_keys_dir",
                   "is required with --etcd_endpoints: the keys that "
                   "encrypt the tokens written to etcd");
  }
  if (fleet.etcd_cert_file.empty() != fleet.etcd_key_file.empty()) {
    return Invalid("etcd_cert_file", "and --etcd_key_file go together");
  }
  for (const auto& [flag, path] :
       {std::pair<const char*, std::string>{"etcd_ca_file", fleet.etcd_ca_file},
        {"etcd_cert_file", fleet.etcd_cert_file},
        {"etcd_key_file", fleet.etcd_key_file}}) {
    if (path.empty()) continue;
    std::optional<std::string> content = ReadTrimmedFile(path);
    if (!content.has_value() || content->empty()) {
      return Invalid(flag,
                     absl::StrCat("\"", path, "\" cannot be read or is empty"));
    }
  }
  if (fleet.etcd_prefix.size() < 2 || fleet.etcd_prefix.front() != '/' ||
      fleet.etcd_prefix.back() != '/') {
    return Invalid("etcd_prefix", "must start and end with '/'");
  }
  if (fleet.revoke_timeout <= absl::ZeroDuration() ||
      fleet.revoke_timeout > absl::Seconds(30)) {
    return Invalid("fleet_revoke_timeout", "must be over 0 and at most 30s");
  }
  return fleet;
}

}  // namespace tokenservice
