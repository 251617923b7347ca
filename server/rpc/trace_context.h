// W3C Trace Context (https://www.w3.org/TR/trace-context/): the trace id of
// a call's `traceparent` metadata, for its log lines, so that they join the
// caller's trace in a log pipeline.

#ifndef SERVER_RPC_TRACE_CONTEXT_H_
#define SERVER_RPC_TRACE_CONTEXT_H_

#include <string>

#include "absl/strings/string_view.h"

namespace tokenservice {

// The metadata key (gRPC metadata keys are lower case).
inline constexpr char kTraceparentKey[] = "traceparent";

// The 32 hex digits of `traceparent`'s trace id, or "" when it is not a
// valid traceparent: "VV-TTTT…(32)-PPPP…(16)-FF", lower-case hex, version
// not "ff", trace and parent ids not all zeros; a later version may add
// fields after a '-'. Never anything else from the caller's bytes.
std::string TraceIdOf(absl::string_view traceparent);

}  // namespace tokenservice

#endif  // SERVER_RPC_TRACE_CONTEXT_H_
