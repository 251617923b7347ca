#include "server/upstream/retry_after.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tokenservice {
namespace {

// Longer delays are treated as this long; callers cap far below it anyway.
constexpr int64_t kMaxSeconds = int64_t{365} * 24 * 3600;

// IMF-fixdate, RFC 850 and asctime, in the order RFC 9110 section 5.6.7
// lists them.
constexpr const char* kDateFormats[] = {
    "%a, %d %b %Y %H:%M:%S GMT",
    "%A, %d-%b-%y %H:%M:%S GMT",
    "%a %b %e %H:%M:%S %Y",
};

}  // namespace

std::optional<absl::Duration> ParseRetryAfter(absl::string_view value,
                                              absl::Time now) {
  value = absl::StripAsciiWhitespace(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      })) {
    int64_t seconds = 0;
    if (value.size() > 12 || !absl::SimpleAtoi(value, &seconds)) {
      seconds = kMaxSeconds;
    }
    return absl::Seconds(std::min(seconds, kMaxSeconds));
  }
  for (const char* format : kDateFormats) {
    absl::Time when;
    std::string error;
    if (absl::ParseTime(format, std::string(value), absl::UTCTimeZone(), &when,
                        &error)) {
      return std::max(absl::ZeroDuration(), when - now);
    }
  }
  return std::nullopt;
}

absl::Status WithRetryAfter(absl::Status status, absl::Duration delay) {
  if (status.ok()) return status;
  status.SetPayload(kRetryAfterPayload,
                    absl::Cord(absl::StrCat(absl::ToInt64Milliseconds(delay))));
  return status;
}

std::optional<absl::Duration> RetryAfter(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kRetryAfterPayload);
  int64_t ms = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &ms) ||
      ms < 0) {
    return std::nullopt;
  }
  return absl::Milliseconds(ms);
}

}  // namespace tokenservice
