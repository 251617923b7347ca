#include "server/ops/log.h"

#include <atomic>
#include <cstdio>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "base/mutex.h"

namespace tokenservice {
namespace {

std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};
// Leaked on purpose: logging may happen during static destruction.
Mutex& SinkMutex() {
  static Mutex* const mu = new Mutex();
  return *mu;
}
std::function<void(absl::string_view)>* sink ABSL_GUARDED_BY(SinkMutex()) =
    nullptr;

// Per level (LogLevel's values index it): the --log_level name, and the
// severity name Cloud Logging, Loki and most pipelines map as is.
struct LevelNames {
  const char* flag;
  const char* severity;
};
constexpr LevelNames kLevelNames[] = {{"debug", "DEBUG"},
                                      {"info", "INFO"},
                                      {"warning", "WARNING"},
                                      {"error", "ERROR"}};

const LevelNames& NamesOf(LogLevel level) {
  return kLevelNames[static_cast<int>(level)];
}

}  // namespace

std::string JsonQuote(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      absl::StrAppend(&out, "\\", std::string(1, c));
    } else if (u < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", u);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= min_level.load(std::memory_order_relaxed);
}

void Log(LogLevel level, absl::string_view event, absl::string_view message,
         absl::Span<const LogField> fields) {
  if (!LogEnabled(level)) return;
  std::string line = absl::StrCat(
      "{\"time\":",
      JsonQuote(absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::Now(),
                                 absl::UTCTimeZone())),
      ",\"severity\":\"", NamesOf(level).severity,
      "\",\"message\":", JsonQuote(message), ",\"event\":", JsonQuote(event));
  for (const LogField& field : fields) {
    absl::StrAppend(&line, ",", JsonQuote(field.first), ":",
                    field.second.json());
  }
  line.push_back('}');
  MutexLock lock(&SinkMutex());
  if (sink != nullptr) {
    (*sink)(line);
    return;
  }
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void SetMinLogLevel(LogLevel level) {
  min_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

bool ParseLogLevel(absl::string_view text, LogLevel* level) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning,
                     LogLevel::kError}) {
    if (text == NamesOf(l).flag) {
      *level = l;
      return true;
    }
  }
  return false;
}

void SetLogSinkForTesting(std::function<void(absl::string_view)> new_sink) {
  MutexLock lock(&SinkMutex());
  delete sink;
  sink = new_sink
             ? new std::function<void(absl::string_view)>(std::move(new_sink))
             : nullptr;
}

}  // namespace tokenservice
