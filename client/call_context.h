// What every call to TokenService carries: a deadline and, when the caller
// has one, its caller key as request metadata.

#ifndef CLIENT_CALL_CONTEXT_H_
#define CLIENT_CALL_CONTEXT_H_

#include <grpcpp/client_context.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tokenservice {

// The metadata key that carries the caller key.
inline constexpr char kCallerKeyMetadata[] = "x-caller-key";

// Sets `context`'s deadline to `deadline` (real time) and, unless
// `caller_key` is empty, adds it as `x-caller-key` metadata. `context` must
// not have been used for a call yet.
void PrepareCallContext(grpc::ClientContext& context, absl::Time deadline,
                        absl::string_view caller_key);

// OK when `caller_key` can travel as gRPC metadata: 1 to 4096 printable
// ASCII characters (0x20-0x7E) without leading or trailing spaces.
// Otherwise kInvalidArgument naming `source`; the key itself is never part
// of the message.
absl::Status ValidateCallerKey(absl::string_view source,
                               absl::string_view caller_key);

}  // namespace tokenservice

#endif  // CLIENT_CALL_CONTEXT_H_
