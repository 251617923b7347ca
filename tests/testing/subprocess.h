// A child process for tests that run our binaries (token_server, say):
// started with posix_spawn, signalled, waited for, killed if still running
// when destroyed.
//
//   auto child = Subprocess::Start({"server/token_server", "--listen=..."},
//                                  {{"MYPOS_CLIENT_ID", "demo"}});
//   child->Signal(SIGTERM);
//   int code = child->Wait();  // exit status; 128 + N when killed by N

#ifndef TESTS_TESTING_SUBPROCESS_H_
#define TESTS_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace tokenservice {

// Not thread-safe: one owner signals and waits.
class Subprocess {
 public:
  // Runs `argv` (argv[0] is the path) with this process's environment plus
  // `env` (added or replacing). stdout and stderr are inherited.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(
      const std::vector<std::string>& argv,
      const std::vector<std::pair<std::string, std::string>>& env = {});

  // SIGKILLs and reaps the child if it has not been waited for.
  ~Subprocess();

  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }

  // Sends `signal` (no-op once waited for).
  void Signal(int signal);

  // Blocks until the child exits: its exit code, or 128 + the signal that
  // killed it (as a shell reports it). Later calls return the same.
  int Wait();

 private:
  explicit Subprocess(pid_t pid) : pid_(pid) {}

  pid_t pid_;
  bool waited_ = false;
  int exit_code_ = 0;
};

}  // namespace tokenservice

#endif  // TESTS_TESTING_SUBPROCESS_H_
