// The reply side of the myPOS OAuth2 exchange: one documented mapping from
// an HTTP reply (status and body) to a token or a Status, apart from I/O.
//
// Replies follow RFC 6749 section 5.1 (success) and 5.2 (error), and RFC
// 7009 for revocation. Bodies are parsed leniently (unknown fields ignored,
// `expires_in` as a number or a numeric string). Every non-OK Status carries
// a reason (error_reason.h). Messages name the HTTP status and, when it is
// made of [A-Za-z0-9_.-]{1,64}, the OAuth `error` code; they never contain
// the body, `error_description`, or a token.
//
//   HTTP status  reply                                 code / reason
//   -----------  ------------------------------------  --------------------
//   2xx          token: non-empty access_token,        OK (token)
//                expires_in > 0 or missing
//   2xx          empty, not JSON, no access_token,     kUnavailable /
//                expires_in < 1 s or over                UPSTREAM_BAD_REPLY
//                max_expires_in, or a value unsafe
//                to hand on (below)
//   401          any                                   kFailedPrecondition /
//   other 4xx    error invalid_client                    CREDENTIALS_REJECTED
//   other 4xx    error unauthorized_client (the client kFailedPrecondition /
//                may not use this grant type)            UNAUTHORIZED_CLIENT
//   other 4xx    error invalid_scope                   kInvalidArgument /
//                                                        INVALID_SCOPE
//   other 4xx    error invalid_grant                   kInvalidArgument /
//                                                        INVALID_GRANT
//   other 4xx    any other error, or none              kInternal /
//                (invalid_request,                       BAD_REQUEST
//                unsupported_grant_type, ...): our
//                request's fault, not the caller's
//   408, 5xx     any                                   kUnavailable /
//                                                        UPSTREAM_UNAVAILABLE
//   429          any                                   kUnavailable /
//                                                        UPSTREAM_RATE_LIMITED
//   1xx, 3xx,    any                                   kUnavailable /
//   other                                                UPSTREAM_BAD_REPLY
//
// "Other 4xx" excludes 408 and 429. Revocation uses the same table, except
// that any 2xx is OK whatever its body (RFC 7009: 200 also for a token the
// provider no longer knows).
//
// What a caller builds an Authorization header from must be safe to: the
// access_token must be an RFC 6750 b64token (A-Z a-z 0-9 - . _ ~ + /, then
// "=" padding) of at most kMaxAccessTokenLength characters, token_type an
// RFC 7230 token, each scope RFC 6749 section 3.3 characters (%x21,
// %x23-5B, %x5D-7E), a refresh_token printable ASCII without spaces of at
// most kMaxAccessTokenLength (what ExchangeGrant accepts back). No part of a
// rejected value appears in the Status.
//
// A token reply without `expires_in` gets TokenReplyOptions::
// missing_expires_in, five minutes by default: short enough that a token
// whose real lifetime is unknown is refreshed early rather than used after
// it expired. `token_type` is compared case-insensitively: "bearer" becomes
// "Bearer", a missing one is "Bearer", others are kept as sent.

#ifndef SERVER_UPSTREAM_OAUTH_REPLY_H_
#define SERVER_UPSTREAM_OAUTH_REPLY_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/upstream/oauth_client.h"

namespace tokenservice {

// The longest access token accepted from myPOS.
inline constexpr size_t kMaxAccessTokenLength = 4096;

struct TokenReplyOptions {
  // The lifetime assumed when a token reply has no `expires_in`.
  absl::Duration missing_expires_in = absl::Minutes(5);
  // A longer `expires_in` is not a usable token (--max_token_lifetime): a
  // token that would never be refreshed.
  absl::Duration max_expires_in = absl::Hours(24);
};

// Maps a reply from the token endpoint to a token or a Status, as in the
// table above. `scope` is split on spaces into UpstreamToken::scopes.
absl::StatusOr<UpstreamToken> ParseTokenReply(int http_status,
                                              absl::string_view body,
                                              const TokenReplyOptions& options);

// Maps a reply from the revocation endpoint to OK or a Status, as in the
// table above.
absl::Status ParseRevokeReply(int http_status, absl::string_view body);

}  // namespace tokenservice

#endif  // SERVER_UPSTREAM_OAUTH_REPLY_H_
