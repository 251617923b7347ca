// recording_server: RecordingTokenService as a process, for tests that run
// the tokenctl binary. Appends one line per call to --record_file
// ("caller_key=K peer_cn=CN"), answers every call with --fail_code when it
// is set, and serves TLS (mTLS when --require_client_cert) with the PEM
// files in --tls_dir (the test_certs genrule's output). --not_serving makes
// its health service answer NOT_SERVING.
//
//   recording_server --port_file=F --record_file=R [--fail_code=N]
//                    [--tls_dir=D [--require_client_cert]] [--not_serving]

#include <climits>
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "base/mutex.h"
#include "client/channel_factory.h"
#include "tests/client/recording_token_service.h"

ABSL_FLAG(std::string, port_file, "", "Where to write the bound port.");
ABSL_FLAG(std::string, record_file, "", "Where to append call records.");
ABSL_FLAG(int, fail_code, 0, "gRPC code every call answers; 0: OK.");
ABSL_FLAG(std::string, tls_dir, "", "Directory with ca.pem, server.pem/key.");
ABSL_FLAG(bool, require_client_cert, false, "Demand a client certificate.");
ABSL_FLAG(bool, not_serving, false, "Health checks answer NOT_SERVING.");

namespace {

std::string Pem(const std::string& name) {
  auto pem = tokenservice::ReadWholeFile(
      "PEM file", absl::GetFlag(FLAGS_tls_dir) + "/" + name);
  return pem.ok() ? *pem : "";
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  tokenservice::Mutex mu;
  std::ofstream record(absl::GetFlag(FLAGS_record_file), std::ios::app);
  tokenservice::RecordingTokenService service([&](const std::string& line) {
    tokenservice::MutexLock lock(&mu);
    record << line << std::endl;
  });
  if (absl::GetFlag(FLAGS_fail_code) != 0) {
    service.FailNext(INT_MAX, grpc::Status(static_cast<grpc::StatusCode>(
                                               absl::GetFlag(FLAGS_fail_code)),
                                           "scripted failure"));
  }
  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (!absl::GetFlag(FLAGS_tls_dir).empty()) {
    grpc::SslServerCredentialsOptions ssl(
        absl::GetFlag(FLAGS_require_client_cert)
            ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
            : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    ssl.pem_root_certs = Pem("ca.pem");
    ssl.pem_key_cert_pairs.push_back({Pem("server.key"), Pem("server.pem")});
    credentials = grpc::SslServerCredentials(ssl);
  }
  tokenservice::TestServer server =
      tokenservice::StartTestServer(&service, credentials);
  if (server.server == nullptr) return 1;
  if (absl::GetFlag(FLAGS_not_serving)) {
    server.server->GetHealthCheckService()->SetServingStatus(false);
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  std::ofstream(port_file + ".tmp") << server.port << "\n";
  std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  server.server->Wait();  // until killed
  return 0;
}
