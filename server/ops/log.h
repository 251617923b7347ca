// Structured logging: one JSON object per line on stderr.
//
// Callers pass fields, never free text built from request data, and never a
// token or a secret: refer to tokens by fingerprint. Abseil 20220623 has no
// absl/log, and these lines are what a log pipeline in Kubernetes ingests.

#ifndef SERVER_OPS_LOG_H_
#define SERVER_OPS_LOG_H_

#include <functional>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace tokenservice {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// `s` as a JSON string literal, quotes included.
std::string JsonQuote(absl::string_view s);

// One field's value, as JSON: text quoted and escaped; integers and bools
// as JSON numbers and literals, so that a pipeline can compare and sum
// them without parsing strings.
class LogValue {
 public:
  LogValue(absl::string_view text) : json_(JsonQuote(text)) {}   // NOLINT
  LogValue(const std::string& text) : json_(JsonQuote(text)) {}  // NOLINT
  LogValue(const char* text) : json_(JsonQuote(text)) {}         // NOLINT
  template <typename T,
            std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>,
                             int> = 0>
  LogValue(T number) : json_(std::to_string(number)) {}  // NOLINT
  template <typename T, std::enable_if_t<std::is_same_v<T, bool>, int> = 0>
  LogValue(T value) : json_(value ? "true" : "false") {}  // NOLINT

  const std::string& json() const { return json_; }

 private:
  std::string json_;
};

using LogField = std::pair<absl::string_view, LogValue>;

// Writes one line if `level` is at least the minimum level:
//   {"time":"2026-12-02T10:00:00.000000Z","severity":"INFO",
//    "message":"...","event":"server_started", fields...}
// `message` is a sentence for people, `event` the stable name to match on
// (docs/operations.md lists them), `fields` the rest (usually a braced
// list). Thread-safe.
void Log(LogLevel level, absl::string_view event, absl::string_view message,
         absl::Span<const LogField> fields = {});

// Whether a line at `level` would be written: for callers that would
// otherwise build fields for nothing.
bool LogEnabled(LogLevel level);

// Lines below `level` are dropped. Default kInfo.
void SetMinLogLevel(LogLevel level);

// Parses "debug", "info", "warning" or "error".
bool ParseLogLevel(absl::string_view text, LogLevel* level);

// Sends each line (without newline) to `sink` instead of stderr; nullptr
// restores stderr. For tests that inspect what was logged.
void SetLogSinkForTesting(std::function<void(absl::string_view)> sink);

}  // namespace tokenservice

#endif  // SERVER_OPS_LOG_H_
