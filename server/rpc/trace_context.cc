#include "server/rpc/trace_context.h"

namespace tokenservice {
namespace {

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return !s.empty();
}

bool AllZeros(absl::string_view s) {
  return s.find_first_not_of('0') == absl::string_view::npos;
}

}  // namespace

std::string TraceIdOf(absl::string_view traceparent) {
  // version(2) - trace-id(32) - parent-id(16) - flags(2): 55 characters.
  constexpr size_t kLength = 55;
  if (traceparent.size() < kLength) return "";
  const absl::string_view version = traceparent.substr(0, 2);
  const absl::string_view trace_id = traceparent.substr(3, 32);
  const absl::string_view parent_id = traceparent.substr(36, 16);
  const absl::string_view flags = traceparent.substr(53, 2);
  if (traceparent[2] != '-' || traceparent[35] != '-' ||
      traceparent[52] != '-' || !IsLowerHex(version) || version == "ff" ||
      !IsLowerHex(trace_id) || AllZeros(trace_id) || !IsLowerHex(parent_id) ||
      AllZeros(parent_id) || !IsLowerHex(flags)) {
    return "";
  }
  // Version 00 is exactly 55 characters; later ones may go on after a '-'.
  if (traceparent.size() > kLength &&
      (version == "00" || traceparent[kLength] != '-')) {
    return "";
  }
  return std::string(trace_id);
}

}  // namespace tokenservice
