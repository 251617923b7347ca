// Parsing of the OAuth2 requests that the fake myPOS server receives, kept
// apart from its HTTP I/O so each rule can be tested on its own.
//
// The fake is deliberately strict where the RFCs are: client credentials in
// the Basic header are form-urlencoded before base64 (RFC 6749 §2.3.1), form
// parameters appear at most once (§3.2), and scope tokens use only the §3.3
// character set. A client that passes against the fake therefore encodes its
// requests the way the RFCs (and myPOS's own example) require.
//
// These helpers live in their own namespace so that they never collide with
// the client-side encoders in server/upstream/.

#ifndef FAKE_MYPOS_OAUTH_REQUEST_H_
#define FAKE_MYPOS_OAUTH_REQUEST_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tokenservice {
namespace fake_mypos {

// Decodes application/x-www-form-urlencoded text: '+' is a space and %XX is
// the byte XX (either hex case). Returns nullopt on a truncated or non-hex
// escape.
std::optional<std::string> FormUrlDecode(absl::string_view text);

// Parses a form body into name -> value, both decoded. Parameters without a
// value are dropped, as if omitted (RFC 6749 §3.1). Returns InvalidArgument on
// a bad escape or on a name that appears twice (RFC 6749 §3.2).
absl::StatusOr<std::map<std::string, std::string>> ParseFormBody(
    absl::string_view body);

// True when `content_type` is application/x-www-form-urlencoded, compared
// without case and ignoring parameters such as "; charset=UTF-8".
bool IsFormUrlEncoded(absl::string_view content_type);

// A client id and secret as decoded from an Authorization header.
struct BasicCredentials {
  std::string client_id;
  std::string client_secret;
};

// Parses `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749
// §2.3.1): base64-decodes, splits at the first ':', form-url-decodes each
// half. The scheme is matched without case. Returns Unauthenticated when the
// header is empty, uses another scheme, or is not valid base64, has no ':' or
// holds a bad escape.
absl::StatusOr<BasicCredentials> ParseBasicAuthorization(
    absl::string_view header);

// Returns the token of a `Bearer <token>` header (scheme without case), or
// nullopt for any other header.
std::optional<std::string> ParseBearerAuthorization(absl::string_view header);

// Splits a scope parameter into its space-separated tokens (RFC 6749 §3.3),
// keeping the first of any duplicates, in order. An empty parameter is no
// scope. Returns InvalidArgument for an empty token (two spaces in a row, a
// leading or trailing space) or a character outside %x21 / %x23-5B / %x5D-7E.
absl::StatusOr<std::vector<std::string>> ParseScope(absl::string_view scope);

}  // namespace fake_mypos
}  // namespace tokenservice

#endif  // FAKE_MYPOS_OAUTH_REQUEST_H_
