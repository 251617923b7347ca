// HttpTransport: the one seam between TokenService and the network.
//
// The myPOS OAuth2 client speaks HTTP only through this interface, so that
// unit tests can replace the network with a mock and integration tests with
// a loopback server. An HTTP reply of any status (including 4xx and 5xx) is
// a value, not an error: turning it into a Status is the caller's job, done
// in one documented mapping (oauth_reply.h).

#ifndef SERVER_UPSTREAM_HTTP_TRANSPORT_H_
#define SERVER_UPSTREAM_HTTP_TRANSPORT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tokenservice {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string url;
  // Sent in order. Values may hold secrets (Authorization): never log them.
  HttpHeaders headers;
  std::string body;
  // The whole exchange (connect, send, receive) must finish by this time.
  absl::Time deadline = absl::InfiniteFuture();
  // False for a request that must reach the server at most once (a user's
  // grant): it gets a connection of its own, used for nothing else, so
  // that the transport never sends it again on its own (libcurl resends a
  // request whose reused connection turned out dead).
  bool idempotent = true;
};

struct HttpResponse {
  int status = 0;
  // Header names lower-cased.
  HttpHeaders headers;
  std::string body;
};

// Sends HTTP requests. Implementations are thread-safe.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;

  // POSTs `request`. Returns the reply, whatever its status code, or:
  //   kUnavailable       the server could not be reached, or the connection
  //                      failed before a complete reply arrived;
  //   kDeadlineExceeded  `request.deadline` passed first;
  //   kInvalidArgument   the URL cannot be used.
  // Status messages never contain header values or the body.
  virtual absl::StatusOr<HttpResponse> Post(const HttpRequest& request) = 0;
};

}  // namespace tokenservice

#endif  // SERVER_UPSTREAM_HTTP_TRANSPORT_H_
