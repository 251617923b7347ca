// HttpTransport: the one seam between TokenService and the network.
//
// The myPOS OAuth2 client speaks HTTP only through this interface, so that
// unit tests can replace the network with a fake and integration tests with
// a loopback server. It is asynchronous: Post() hands the request over and
// returns, and the reply arrives through a callback, so that no thread of
// ours ever waits on myPOS. An HTTP reply of any status (including 4xx and
// 5xx) is a value, not an error: turning it into a Status is the caller's
// job, done in one documented mapping (oauth_reply.h).

#ifndef SERVER_UPSTREAM_HTTP_TRANSPORT_H_
#define SERVER_UPSTREAM_HTTP_TRANSPORT_H_

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tokenservice {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// Which share of the connections to a host a request may use.
enum class Lane {
  // A request made because a caller waits for it (a cache miss, a user's
  // grant): these leave a quarter of the connections (at least one when
  // there are four or more) to kReserved requests.
  kCaller,
  // Background refreshes and revocations: they may use every connection
  // and start before any queued kCaller request, so that however many
  // caller misses wait, tokens in service are refreshed and revoked ones
  // revoked.
  kReserved,
};

// When and how a request to myPOS may be made; the same for every attempt
// of one call.
struct RequestOptions {
  // The whole exchange (queueing, connect, send, receive) ends by then.
  absl::Time deadline = absl::InfiniteFuture();
  Lane lane = Lane::kCaller;
  // Asked just before the request is sent (it may first wait for a
  // connection) and before each retry: false drops it unsent, with
  // kCancelled and request_sent=false. Empty: always wanted. Runs on the
  // transport's thread: it must be quick and must not call the transport.
  std::function<bool()> wanted;
};

struct HttpRequest {
  std::string url;
  // Sent in order. Values may hold secrets (Authorization): never log them.
  HttpHeaders headers;
  std::string body;
  RequestOptions options;
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
  // The delay a Retry-After header asked for (seconds or an HTTP-date, as
  // libcurl reads it); unset when the reply had none.
  std::optional<absl::Duration> retry_after;
};

using HttpCallback = absl::AnyInvocable<void(absl::StatusOr<HttpResponse>) &&>;

// Sends HTTP requests. Implementations are thread-safe.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;

  // POSTs `request` and calls `done` exactly once, never inside this call,
  // with the reply whatever its status code, or:
  //   kUnavailable       the server could not be reached, or the connection
  //                      failed before a complete reply arrived; reason
  //                      SERVER_SHUTTING_DOWN when Shutdown() ended it;
  //   kDeadlineExceeded  `request.options.deadline` passed first;
  //   kCancelled         `request.options.wanted` said no;
  //   kInvalidArgument   the URL cannot be used.
  // Status messages never contain header values or the body.
  virtual void Post(HttpRequest request, HttpCallback done) = 0;

  // Ends every request at once, queued or under way, with kUnavailable
  // (reason SERVER_SHUTTING_DOWN), and every later one the same way.
  // Returns once the callbacks of every request posted before the call
  // have run; so calling it again waits for those posted since.
  virtual void Shutdown() = 0;
};

}  // namespace tokenservice

#endif  // SERVER_UPSTREAM_HTTP_TRANSPORT_H_
