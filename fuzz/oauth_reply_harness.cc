#include "fuzz/oauth_reply_harness.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "fuzz/fuzz_check.h"
#include "server/ops/error_reason.h"
#include "server/upstream/oauth_reply.h"

namespace tokenservice {
namespace fuzz {
namespace {

// The code oauth_reply.h's table gives a non-2xx status, for the codes
// that do not depend on the body.
bool CodeMatchesStatus(int http_status, absl::StatusCode code) {
  if (http_status == 401) return code == absl::StatusCode::kFailedPrecondition;
  if (http_status == 408 || http_status == 429 ||
      (http_status >= 500 && http_status <= 599) || http_status < 400 ||
      http_status > 499) {
    return code == absl::StatusCode::kUnavailable;
  }
  // Other 4xx: the credentials or the client (kFailedPrecondition), the
  // caller's scope or grant (kInvalidArgument), or our request (kInternal).
  return code == absl::StatusCode::kFailedPrecondition ||
         code == absl::StatusCode::kInvalidArgument ||
         code == absl::StatusCode::kInternal;
}

void CheckError(const absl::Status& status, int http_status) {
  const std::string detail =
      absl::StrCat("HTTP ", http_status, " -> ", status.ToString());
  const absl::string_view message = status.message();
  FUZZ_CHECK(!message.empty(), detail);
  FUZZ_CHECK(message.size() <= 200, detail);
  FUZZ_CHECK(IsOneLine(message), detail);
  FUZZ_CHECK(message.find(kCanaryMarker) == absl::string_view::npos, detail);
  FUZZ_CHECK(!ErrorReason(status).empty(), detail);
}

}  // namespace

void FuzzOAuthReply(const uint8_t* data, size_t size) {
  if (size < 2) return;
  const int http_status = (data[0] | (data[1] << 8)) % 700;
  const absl::string_view body(reinterpret_cast<const char*>(data) + 2,
                               size - 2);
  const bool success = http_status >= 200 && http_status <= 299;

  absl::StatusOr<UpstreamToken> token =
      ParseTokenReply(http_status, body, TokenReplyOptions());
  if (token.ok()) {
    const std::string detail = absl::StrCat("HTTP ", http_status, " token");
    FUZZ_CHECK(success, detail);
    FUZZ_CHECK(!token->access_token.empty(), detail);
    FUZZ_CHECK(!token->token_type.empty(), detail);
    FUZZ_CHECK(token->expires_in > absl::ZeroDuration(), detail);
    for (const std::string& scope : token->scopes) {
      FUZZ_CHECK(!scope.empty() && scope.find(' ') == std::string::npos,
                 detail);
    }
  } else {
    CheckError(token.status(), http_status);
    if (!success) {
      FUZZ_CHECK(CodeMatchesStatus(http_status, token.status().code()),
                 token.status().ToString());
    } else {
      FUZZ_CHECK(token.status().code() == absl::StatusCode::kUnavailable,
                 token.status().ToString());
    }
  }

  const absl::Status revoked = ParseRevokeReply(http_status, body);
  FUZZ_CHECK(revoked.ok() == success, revoked.ToString());
  if (!revoked.ok()) {
    CheckError(revoked, http_status);
    FUZZ_CHECK(CodeMatchesStatus(http_status, revoked.code()),
               revoked.ToString());
  }
}

}  // namespace fuzz
}  // namespace tokenservice
