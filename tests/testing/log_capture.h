// Every log line (server/ops/log.h) written while a LogCapture lives, from
// any thread, in the order written:
//
//   LogCapture log;
//   ... run the server ...
//   server.reset();   // its shutdown lines too
//   log.Stop();
//   EXPECT_THAT(log.Text(), Not(HasSubstr(kCanarySecret)));
//   EXPECT_EQ(log.Count("\"event\":\"fleet_lock_lost\""), 1);
//
// It replaces the process's one log sink, so one at a time (a second one
// while the first captures aborts the test); Stop (or the destructor)
// gives stderr back. The reads may run while lines arrive.

#ifndef TESTS_TESTING_LOG_CAPTURE_H_
#define TESTS_TESTING_LOG_CAPTURE_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "base/mutex.h"

namespace tokenservice {

class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // Lines written from now on go to stderr again. Idempotent.
  void Stop();

  std::vector<std::string> Lines() const;
  // The lines, each followed by "\n".
  std::string Text() const;
  // How many lines contain `needle`.
  int Count(absl::string_view needle) const;

 private:
  mutable Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
  bool stopped_ = false;
};

}  // namespace tokenservice

#endif  // TESTS_TESTING_LOG_CAPTURE_H_
