// CurlHttpTransport: the HttpTransport over libcurl.
//
// Keeps a pool of curl easy handles and reuses them, so that keep-alive
// connections (and TLS sessions) to myPOS survive from one request to the
// next. TLS peer and host verification are always on; redirects are never
// followed (a 3xx is returned as a reply); only http and https are allowed.
// Proxies follow libcurl's usual environment variables (http_proxy,
// https_proxy, no_proxy, ...): no proxy option is ever set.

#ifndef SERVER_UPSTREAM_CURL_HTTP_TRANSPORT_H_
#define SERVER_UPSTREAM_CURL_HTTP_TRANSPORT_H_

#include <curl/curl.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "server/upstream/http_transport.h"

namespace tokenservice {

// Post() returns the codes documented in HttpTransport, each with a reason
// (error_reason.h), from one switch over every libcurl error code
// (CurlErrorToStatus):
//   kUnavailable       UPSTREAM_UNAVAILABLE: resolve, connect, send, receive
//                      or TLS handshake failure, a reply cut short, an
//                      attempt that hit max_attempt_timeout, or no memory or
//                      curl handle for the request;
//                      UPSTREAM_TLS_FAILED: the peer's certificate was not
//                      verified ("TLS verification of myPOS failed");
//                      UPSTREAM_BAD_REPLY: a reply body over
//                      max_response_bytes;
//   kDeadlineExceeded  DEADLINE_EXCEEDED: the request deadline passed
//                      (before sending, or during the exchange);
//   kInvalidArgument   BAD_REQUEST: a malformed URL, a scheme other than
//                      http(s), or a header containing CR or LF.
// A failure before any of the request was sent (no connection, a failed TLS
// handshake) carries the metadata request_sent=false (error_reason.h).
// Connect and total timeouts are both the time left until the request's
// deadline, capped at max_attempt_timeout. Messages carry libcurl's
// description of the error and the URL's host, never header values or the
// body.
//
// Thread-safe: concurrent Post() calls each use their own handle.
class CurlHttpTransport : public HttpTransport {
 public:
  struct Options {
    // CA certificates (PEM) to verify the server with; empty: libcurl's
    // default bundle.
    std::string ca_bundle_file;
    // A longer reply body fails the request with kUnavailable.
    size_t max_response_bytes = 64 * 1024;
    // One attempt never takes longer than this, whatever the deadline.
    absl::Duration max_attempt_timeout = absl::Seconds(30);
    std::string user_agent = "tokenservice/1";
  };

  // Initialises libcurl globally on first use.
  explicit CurlHttpTransport(Options options);

  CurlHttpTransport(const CurlHttpTransport&) = delete;
  CurlHttpTransport& operator=(const CurlHttpTransport&) = delete;

  absl::StatusOr<HttpResponse> Post(const HttpRequest& request) override
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  using CurlHandle = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;

  // A pooled handle, or a new one; null when libcurl cannot make one.
  CurlHandle AcquireHandle() ABSL_LOCKS_EXCLUDED(mu_);
  // Resets `handle` and keeps it (with its connections) for reuse.
  void ReleaseHandle(CurlHandle handle) ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;

  mutable Mutex mu_;
  std::vector<CurlHandle> handles_ ABSL_GUARDED_BY(mu_);
};

// The Status for libcurl error `code` (not CURLE_OK) as the table above
// says; `host` goes into the message; `deadline_passed` says whether a
// timeout was the request's deadline rather than max_attempt_timeout.
absl::Status CurlErrorToStatus(CURLcode code, absl::string_view host,
                               bool deadline_passed);

}  // namespace tokenservice

#endif  // SERVER_UPSTREAM_CURL_HTTP_TRANSPORT_H_
