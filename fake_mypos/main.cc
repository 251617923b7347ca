// fake_mypos: runs FakeMyposServer as a process, for the demo and for
// tests that start TokenService as a separate binary.
//
// Prints "fake myPOS listening on http://HOST:PORT" once it accepts
// connections, optionally writes the port to --port_file, and serves until
// SIGTERM or SIGINT. The credentials are demo values for a fake server, so
// taking them from flags is fine here (TokenService itself never does).

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/version.h"
#include "fake_mypos/fake_mypos_server.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "Address to listen on.");
ABSL_FLAG(int, port, 0, "Port to listen on; 0 picks a free one.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the bound port is written here (atomically) once "
          "listening.");
ABSL_FLAG(std::string, client_id, "demo-client", "The one accepted client.");
ABSL_FLAG(std::string, client_secret, "demo-secret",
          "Its secret (a demo value for a fake server).");
ABSL_FLAG(absl::Duration, token_lifetime, absl::Hours(1),
          "Lifetime of issued tokens, e.g. 1h or 90s.");
ABSL_FLAG(bool, expires_in_as_string, false,
          "Send expires_in as a JSON string instead of a number.");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate: with --tls_key_file, serve HTTPS only.");
ABSL_FLAG(std::string, tls_key_file, "",
          "PEM private key of that certificate.");
ABSL_FLAG(absl::Duration, latency, absl::ZeroDuration(),
          "Wait before every /oauth/* reply, e.g. 200ms.");
ABSL_FLAG(std::string, hang_scope, "",
          "Never answer a client_credentials request whose scope holds this "
          "scope token (until SIGTERM or SIGINT).");
ABSL_FLAG(int, worker_threads, 64,
          "Connections served at once, one thread each; a request held by "
          "--latency or --hang_scope keeps its thread.");

namespace tokenservice {
namespace {

// Writes `port` to `path` through a temporary file and rename(2), so a
// reader polling for the file never sees it half-written.
absl::Status WritePortFile(const std::string& path, int port) {
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    out.close();
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot rename to ", path));
  }
  return absl::OkStatus();
}

int Run() {
  // Block the stop signals before any thread starts, so every thread
  // inherits the mask and only sigwait() below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  FakeMyposServer::Options options;
  options.clients[absl::GetFlag(FLAGS_client_id)] =
      absl::GetFlag(FLAGS_client_secret);
  options.token_lifetime = absl::GetFlag(FLAGS_token_lifetime);
  options.expires_in_as_string = absl::GetFlag(FLAGS_expires_in_as_string);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  options.latency = absl::GetFlag(FLAGS_latency);
  options.hang_scope = absl::GetFlag(FLAGS_hang_scope);
  options.worker_threads = absl::GetFlag(FLAGS_worker_threads);
  if (options.latency < absl::ZeroDuration() || options.worker_threads < 1) {
    std::cerr << "fake_mypos: --latency must not be negative and "
                 "--worker_threads must be at least 1"
              << std::endl;
    return 1;
  }
  FakeMyposServer server(std::move(options));
  absl::StatusOr<int> port =
      server.Start(absl::GetFlag(FLAGS_host), absl::GetFlag(FLAGS_port));
  if (!port.ok()) {
    std::cerr << "fake_mypos: " << port.status().message() << std::endl;
    return 1;
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    absl::Status written = WritePortFile(port_file, *port);
    if (!written.ok()) {
      std::cerr << "fake_mypos: " << written.message() << std::endl;
      return 1;
    }
  }
  std::cout << "fake myPOS listening on " << server.BaseUrl() << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  server.Stop();
  return 0;
}

}  // namespace
}  // namespace tokenservice

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "A fake myPOS OAuth2 auth server for tests and the demo.");
  absl::FlagsUsageConfig usage;
  usage.version_string = [] {
    return tokenservice::VersionString("fake_mypos");
  };
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  return tokenservice::Run();
}
