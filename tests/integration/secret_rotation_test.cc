// Kubernetes rotates a Secret volume by swapping a symlink. The server reads
// secret files on every use, so the next request to myPOS uses the new
// credentials with no restart, while the cached token stays in service.

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "fake_mypos/fake_mypos_server.h"
#include "gtest/gtest.h"
#include "proto/token_service.grpc.pb.h"
#include "server/token_server.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;

// A Secret volume as the kubelet lays it out: files are symlinks through
// "..data", which points at a timestamped directory and is swapped whole.
class SecretVolume {
 public:
  explicit SecretVolume(const std::string& root) : root_(root) {}

  void Write(const std::string& id, const std::string& secret) {
    const std::string version = absl::StrCat("..v", ++versions_);
    const std::string dir = root_ + "/" + version;
    ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
    std::ofstream(dir + "/client_id") << id;
    std::ofstream(dir + "/client_secret") << secret << "\n";
    const std::string tmp = root_ + "/..data_tmp";
    ASSERT_EQ(symlink(version.c_str(), tmp.c_str()), 0);
    ASSERT_EQ(rename(tmp.c_str(), (root_ + "/..data").c_str()), 0);
    if (versions_ == 1) {
      ASSERT_EQ(symlink("..data/client_id", path("client_id").c_str()), 0);
      ASSERT_EQ(symlink("..data/client_secret", path("client_secret").c_str()),
                0);
    }
  }

  std::string path(const std::string& name) const { return root_ + "/" + name; }

 private:
  const std::string root_;
  int versions_ = 0;
};

TEST(SecretRotation, NextUpstreamRequestUsesRotatedCredentials) {
  FakeMyposServer::Options fake_options;
  fake_options.clients = {{"old-id", "old-secret"}, {"new-id", "new-secret"}};
  FakeMyposServer fake(fake_options);
  ASSERT_TRUE(fake.Start().ok());
  SecretVolume volume(std::getenv("TEST_TMPDIR"));
  volume.Write("old-id", "old-secret");

  ServerConfig config;
  config.listen_address = "127.0.0.1:0";
  config.token_url = fake.BaseUrl() + "/oauth/token";
  config.revoke_url = fake.BaseUrl() + "/oauth/revoke";
  CredentialProfile profile;
  profile.name = "default";
  profile.client_id_file = volume.path("client_id");
  profile.client_secret_file = volume.path("client_secret");
  config.profiles = {profile};
  auto server = TokenServer::Start(config);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::TokenService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                          grpc::InsecureChannelCredentials()));
  auto issue = [&stub](const std::string& rejected) {
    grpc::ClientContext context;
    v1::IssueRequest request;
    request.set_rejected_fingerprint(rejected);
    v1::IssueResponse response;
    grpc::Status status = stub->Issue(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  };

  const v1::IssueResponse first = issue("");
  EXPECT_EQ(fake.last_token_authorization(),
            "Basic " + absl::Base64Escape("old-id:old-secret"));

  volume.Write("new-id", "new-secret");
  // The cached token stays in service.
  EXPECT_EQ(issue("").access_token(), first.access_token());
  EXPECT_EQ(fake.token_requests(), 1);

  // The next request to myPOS (here forced by a rejection report) uses the
  // new credentials.
  const v1::IssueResponse second = issue(first.fingerprint());
  EXPECT_NE(second.access_token(), first.access_token());
  EXPECT_EQ(fake.last_token_authorization(),
            "Basic " + absl::Base64Escape("new-id:new-secret"));
  grpc::ClientContext context;
  v1::GetTokenInfoRequest info_request;
  info_request.set_fingerprint(second.fingerprint());
  v1::TokenInfo info;
  ASSERT_TRUE(stub->GetTokenInfo(&context, info_request, &info).ok());
  EXPECT_EQ(info.client_id(), "new-id");
}

}  // namespace
}  // namespace tokenservice
