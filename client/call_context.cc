#include "client/call_context.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace tokenservice {

void PrepareCallContext(grpc::ClientContext& context, absl::Time deadline,
                        absl::string_view caller_key) {
  context.set_deadline(absl::ToChronoTime(deadline));
  if (!caller_key.empty()) {
    context.AddMetadata(kCallerKeyMetadata, std::string(caller_key));
  }
}

absl::Status ValidateCallerKey(absl::string_view source,
                               absl::string_view caller_key) {
  constexpr size_t kMaxLength = 4096;
  if (caller_key.empty() || caller_key.size() > kMaxLength) {
    return absl::InvalidArgumentError(absl::StrCat("caller key from ", source,
                                                   " must be 1 to ", kMaxLength,
                                                   " characters"));
  }
  for (char c : caller_key) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError(
          absl::StrCat("caller key from ", source,
                       " has characters not allowed in gRPC metadata"));
    }
  }
  if (caller_key.front() == ' ' || caller_key.back() == ' ') {
    return absl::InvalidArgumentError(absl::StrCat(
        "caller key from ", source, " starts or ends with a space"));
  }
  return absl::OkStatus();
}

}  // namespace tokenservice
