#include "tests/testing/log_capture.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "server/ops/log.h"

namespace tokenservice {
namespace {

// Whether a LogCapture holds the sink: a second one would take it over
// unnoticed, and the first one's Stop would end the second's capture.
std::atomic<bool> capturing{false};

}  // namespace

LogCapture::LogCapture() {
  if (capturing.exchange(true)) {
    std::fprintf(stderr, "LogCapture: another one is capturing already\n");
    std::abort();
  }
  SetLogSinkForTesting([this](absl::string_view line) {
    MutexLock lock(&mu_);
    lines_.emplace_back(line);
  });
}

LogCapture::~LogCapture() { Stop(); }

void LogCapture::Stop() {
  if (stopped_) return;
  stopped_ = true;
  SetLogSinkForTesting(nullptr);
  capturing.store(false);
}

std::vector<std::string> LogCapture::Lines() const {
  MutexLock lock(&mu_);
  return lines_;
}

std::string LogCapture::Text() const {
  MutexLock lock(&mu_);
  std::string text;
  for (const std::string& line : lines_) text.append(line).append("\n");
  return text;
}

int LogCapture::Count(absl::string_view needle) const {
  MutexLock lock(&mu_);
  int count = 0;
  for (const std::string& line : lines_)
    count += absl::StrContains(line, needle);
  return count;
}

}  // namespace tokenservice
