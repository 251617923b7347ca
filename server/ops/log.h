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
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace tokenservice {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

using LogField = std::pair<absl::string_view, std::string>;

// Writes {"time":...,"level":...,"event":event, fields...} if `level` is at
// least the minimum level. Thread-safe. `fields` is usually a braced list.
void Log(LogLevel level, absl::string_view event,
         absl::Span<const LogField> fields = {});

// Lines below `level` are dropped. Default kInfo.
void SetMinLogLevel(LogLevel level);

// Parses "debug", "info", "warning" or "error".
bool ParseLogLevel(absl::string_view text, LogLevel* level);

// Sends each line (without newline) to `sink` instead of stderr; nullptr
// restores stderr. For tests that inspect what was logged.
void SetLogSinkForTesting(std::function<void(absl::string_view)> sink);

// `s` as a JSON string literal, quotes included.
std::string JsonQuote(absl::string_view s);

}  // namespace tokenservice

#endif  // SERVER_OPS_LOG_H_
