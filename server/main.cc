// token_server: the TokenService process. See README.md for flags, and
// docs/ for operating it.

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "base/version.h"
#include "server/config/server_config.h"
#include "server/ops/library_logs.h"
#include "server/ops/log.h"
#include "server/token_server.h"

ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the bound gRPC port is written there once serving (useful "
          "with --listen=HOST:0).");
ABSL_FLAG(absl::Duration, drain_delay, absl::Seconds(5),
          "On SIGTERM/SIGINT, how long the server reports NOT_SERVING while "
          "it still accepts and serves calls, before it closes its port: "
          "long enough for load balancers (Kubernetes endpoints) to stop "
          "sending it new connections. A second signal ends it at once.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(20),
          "After --drain_delay, how long calls in flight may take to finish.");

namespace {

// Blocks SIGTERM and SIGINT in every thread (call before starting any) and
// returns once one arrives.
sigset_t BlockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// Waits up to `timeout` for one of `signals` (blocked). True if one came.
bool WaitForSignal(const sigset_t& signals, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (absl::Duration left = timeout; left > absl::ZeroDuration();
       left = deadline - absl::Now()) {
    const timespec wait = absl::ToTimespec(left);
    if (sigtimedwait(&signals, nullptr, &wait) >= 0) return true;
    if (errno != EINTR) return false;  // EAGAIN: the time is up.
  }
  return false;
}

// Writes `port` to `path` atomically (temporary file, then rename), so a
// reader never sees a partial number. An empty path writes nothing.
bool WritePortFile(const std::string& path, int port) {
  if (path.empty()) return true;
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return false;
  const bool written = std::fprintf(f, "%d\n", port) > 0;
  return std::fclose(f) == 0 && written &&
         std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "TokenService: myPOS OAuth2 tokens for internal callers over gRPC.");
  // --help lists the flags defined in server/ (Abseil's default looks for
  // a file named after the binary, which we do not have); --helpfull adds
  // gRPC's and Abseil's own.
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "server/");
  };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  // --version (exit 0): ours, not Abseil's "Debug build" line.
  usage.version_string = [] {
    return tokenservice::VersionString("token_server");
  };
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  // Debian builds Abseil without NDEBUG, so every Abseil mutex (ours and
  // gRPC's) runs its debug-only deadlock detector: a process-wide spin lock
  // and graph update on each Lock and on each mutex destroyed. Under load a
  // thread preempted inside it stalls every other call, so the server turns
  // it off (BENCHMARKS.md has the measurement). Tests keep it on: they do
  // not run this main.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  tokenservice::LogLevel level;
  if (!tokenservice::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    std::fprintf(stderr,
                 "token_server: --log_level: \"%s\" is not one of "
                 "debug, info, warning, error\n",
                 absl::GetFlag(FLAGS_log_level).c_str());
    return 2;
  }
  tokenservice::SetMinLogLevel(level);
  tokenservice::RouteLibraryLogsToJson();
  for (const auto& [name, value] :
       {std::pair{"drain_delay", absl::GetFlag(FLAGS_drain_delay)},
        std::pair{"shutdown_grace", absl::GetFlag(FLAGS_shutdown_grace)}}) {
    if (value < absl::ZeroDuration()) {
      std::fprintf(stderr, "token_server: --%s: must not be negative\n", name);
      return 2;
    }
  }
  absl::StatusOr<tokenservice::ServerConfig> config =
      tokenservice::ConfigFromFlags(&std::getenv);
  if (!config.ok()) {
    std::fprintf(stderr, "token_server: configuration error: %s\n",
                 std::string(config.status().message()).c_str());
    return 2;
  }
  const sigset_t signals = BlockShutdownSignals();
  auto server = tokenservice::TokenServer::Start(*config);
  if (!server.ok()) {
    std::fprintf(stderr, "token_server: %s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  if (!WritePortFile(absl::GetFlag(FLAGS_port_file), (*server)->port())) {
    std::fprintf(stderr, "token_server: --port_file: cannot write \"%s\"\n",
                 absl::GetFlag(FLAGS_port_file).c_str());
    return 1;
  }
  using tokenservice::Log;
  using tokenservice::LogLevel;
  Log(LogLevel::kInfo, "server_started", "serving",
      {{"port", (*server)->port()},
       {"admin_port", (*server)->admin_port()},
       {"token_url", config->token_url},
       {"revoke_url", config->revoke_url},
       {"default_profile", config->default_profile}});
  int signal = 0;
  sigwait(&signals, &signal);
  const absl::Duration drain_delay = absl::GetFlag(FLAGS_drain_delay);
  // NOT_SERVING before the line that says so: whoever reads it may check.
  (*server)->BeginDrain();
  Log(LogLevel::kInfo, "server_draining",
      "NOT_SERVING from now on; still serving until the drain delay is over",
      {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"},
       {"drain_delay_ms", absl::ToInt64Milliseconds(drain_delay)}});
  if (WaitForSignal(signals, drain_delay)) {
    Log(LogLevel::kInfo, "drain_cut_short",
        "second signal: closing the port now");
  }
  Log(LogLevel::kInfo, "server_stopping",
      "closing the port and sending GOAWAY; calls in flight get the "
      "shutdown grace",
      {{"shutdown_grace_ms",
        absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_shutdown_grace))}});
  (*server)->Shutdown(absl::Now() + absl::GetFlag(FLAGS_shutdown_grace));
  // Every call has its answer now, and no request to myPOS is under way.
  server->reset();
  Log(LogLevel::kInfo, "server_stopped", "every call answered; exiting");
  return 0;
}
