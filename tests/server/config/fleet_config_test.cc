#include "server/config/fleet_config.h"

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_DECLARE_FLAG(std::string, etcd_endpoints);
ABSL_DECLARE_FLAG(std::string, etcd_ca_file);
ABSL_DECLARE_FLAG(std::string, etcd_cert_file);
ABSL_DECLARE_FLAG(std::string, etcd_key_file);
ABSL_DECLARE_FLAG(std::string, etcd_prefix);
ABSL_DECLARE_FLAG(std::string, fleet_keys_dir);
ABSL_DECLARE_FLAG(absl::Duration, fleet_revoke_timeout);

namespace tokenservice {
namespace {

using ::testing::HasSubstr;

std::string WriteFile(const std::string& name, const std::string& content) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  std::ofstream(path) << content;
  return path;
}

class FleetConfigTest : public ::testing::Test {
 protected:
  void Fleet(const std::string& endpoints) {
    absl::SetFlag(&FLAGS_etcd_endpoints, endpoints);
    absl::SetFlag(&FLAGS_fleet_keys_dir, "/etc/tokenservice/fleet-keys");
  }
  // The error's message, or "" when it loads.
  std::string Error() {
    auto fleet = FleetConfigFromFlags();
    EXPECT_FALSE(fleet.ok());
    if (!fleet.ok()) {
      EXPECT_EQ(fleet.status().code(), absl::StatusCode::kInvalidArgument);
    }
    return std::string(fleet.status().message());
  }

  absl::FlagSaver saver_;
};

TEST_F(FleetConfigTest, OffByDefault) {
  auto fleet = FleetConfigFromFlags();
  ASSERT_TRUE(fleet.ok()) << fleet.status();
  EXPECT_FALSE(fleet->enabled());
}

TEST_F(FleetConfigTest, OneEndpointGoesThroughDns) {
  Fleet("etcd-client.default.svc:2379");
  auto fleet = FleetConfigFromFlags();
  ASSERT_TRUE(fleet.ok()) << fleet.status();
  EXPECT_TRUE(fleet->enabled());
  EXPECT_EQ(fleet->etcd_target, "dns:///etcd-client.default.svc:2379");
  EXPECT_EQ(fleet->etcd_prefix, "/tokenservice/");
  EXPECT_EQ(fleet->revoke_timeout, absl::Seconds(2));
}

TEST_F(FleetConfigTest, SeveralAddressesBecomeOneList) {
  Fleet("10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379");
  auto fleet = FleetConfigFromFlags();
  ASSERT_TRUE(fleet.ok()) << fleet.status();
  EXPECT_EQ(fleet->etcd_target,
            "ipv4:10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379");
  Fleet("[::1]:2379,[::1]:2380");
  fleet = FleetConfigFromFlags();
  ASSERT_TRUE(fleet.ok()) << fleet.status();
  EXPECT_EQ(fleet->etcd_target, "ipv6:[::1]:2379,[::1]:2380");
}

TEST_F(FleetConfigTest, RefusesWhatCannotWork) {
  Fleet("etcd-0:2379,etcd-1:2379");
  EXPECT_THAT(Error(), HasSubstr("--etcd_endpoints"));
  Fleet("10.0.0.1:2379,[::1]:2379");
  EXPECT_THAT(Error(), HasSubstr("--etcd_endpoints"));
  Fleet("10.0.0.1");
  EXPECT_THAT(Error(), HasSubstr("not HOST:PORT"));
  Fleet("10.0.0.1:70000");
  EXPECT_THAT(Error(), HasSubstr("not HOST:PORT"));

  Fleet("127.0.0.1:2379");
  absl::SetFlag(&FLAGS_fleet_keys_dir, "");
  EXPECT_THAT(Error(), HasSubstr("--fleet_keys_dir"));

  Fleet("127.0.0.1:2379");
  absl::SetFlag(&FLAGS_etcd_cert_file, WriteFile("cert.pem", "CERT"));
  EXPECT_THAT(Error(), HasSubstr("--etcd_key_file go together"));
  absl::SetFlag(&FLAGS_etcd_key_file, "/nonexistent/key.pem");
  EXPECT_THAT(Error(), HasSubstr("--etcd_key_file: \"/nonexistent/key.pem\""));
  absl::SetFlag(&FLAGS_etcd_key_file, WriteFile("key.pem", "KEY"));
  EXPECT_TRUE(FleetConfigFromFlags().ok());

  absl::SetFlag(&FLAGS_etcd_prefix, "tokenservice");
  EXPECT_THAT(Error(), HasSubstr("--etcd_prefix"));
  absl::SetFlag(&FLAGS_etcd_prefix, "/ts/");
  absl::SetFlag(&FLAGS_fleet_revoke_timeout, absl::ZeroDuration());
  EXPECT_THAT(Error(), HasSubstr("--fleet_revoke_timeout"));
}

// A fleet flag given without --etcd_endpoints is a mistake to report, not
// a replica silently on its own.
TEST_F(FleetConfigTest, AFleetFlagWithoutEndpointsIsAnError) {
  absl::SetFlag(&FLAGS_fleet_keys_dir, "/etc/tokenservice/fleet-keys");
  EXPECT_THAT(Error(), HasSubstr("--fleet_keys_dir: is for fleet mode"));
  absl::SetFlag(&FLAGS_fleet_keys_dir, "");
  absl::SetFlag(&FLAGS_etcd_prefix, "/ts/");
  EXPECT_THAT(Error(), HasSubstr("--etcd_prefix: is for fleet mode"));
  absl::SetFlag(&FLAGS_etcd_prefix, "/tokenservice/");
  absl::SetFlag(&FLAGS_fleet_revoke_timeout, absl::Seconds(5));
  EXPECT_THAT(Error(), HasSubstr("--fleet_revoke_timeout: is for fleet mode"));
}

}  // namespace
}  // namespace tokenservice
