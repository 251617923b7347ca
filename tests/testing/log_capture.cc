#include "tests/testing/log_capture.h"

#include "absl/strings/match.h"
#include "server/ops/log.h"

namespace tokenservice {

LogCapture::LogCapture() {
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
