// The HTTP replies the fake myPOS server writes, kept apart from its request
// handling: RFC 6749 §5.1 token replies, §5.2 error replies, RFC 6750 Bearer
// challenges and the canned replies of injected faults.
//
// Every JSON reply carries `Cache-Control: no-store` and `Pragma: no-cache`,
// as RFC 6749 §5.1 requires of token replies. Thread-compatible (stateless
// functions on a response the caller owns).

#ifndef FAKE_MYPOS_OAUTH_REPLY_H_
#define FAKE_MYPOS_OAUTH_REPLY_H_

#include <httplib.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace tokenservice {
namespace fake_mypos {

// Writes `json` with `status` as application/json that no cache may keep.
void WriteJson(httplib::Response& res, int status, const std::string& json);

// Writes `{"error":"<error>"}` with `status`. `error` must be an RFC 6749
// error code (plain ASCII), which needs no JSON escaping.
void WriteError(httplib::Response& res, int status, absl::string_view error);

// 401 invalid_client with the `WWW-Authenticate: Basic realm="myPOS"`
// challenge (RFC 6749 §5.2).
void WriteInvalidClient(httplib::Response& res);

// 401 invalid_token with a Bearer challenge (RFC 6750 §3).
void WriteInvalidToken(httplib::Response& res);

// 200 with `{"access_token":...,"token_type":"Bearer","expires_in":...,
// "scope":"<scopes joined by spaces>"}`, plus `"refresh_token":...` when
// `refresh_token` is not empty; `expires_in` is a JSON string when
// `expires_in_as_string`. Tokens must be base64url and each scope RFC 6749
// §3.3 characters, which need no JSON escaping.
void WriteTokenReply(httplib::Response& res, const std::string& token,
                     int64_t expires_in, bool expires_in_as_string,
                     const std::vector<std::string>& scopes,
                     const std::string& refresh_token = "");

// Writes an injected fault: `status`, `headers` as given and `body` (if not
// empty) typed by a Content-Type among `headers`, else application/json.
// With `drop_after_bytes`, the whole body's length is announced but the
// connection is closed after that many bytes of it.
void WriteFault(httplib::Response& res, int status, const std::string& body,
                const std::vector<std::pair<std::string, std::string>>& headers,
                std::optional<size_t> drop_after_bytes = std::nullopt);

}  // namespace fake_mypos
}  // namespace tokenservice

#endif  // FAKE_MYPOS_OAUTH_REPLY_H_
