// One libcurl transfer of CurlHttpTransport: its options, what its
// callbacks collect, and how its end becomes a result — the one mapping
// from a libcurl error to a Status with its reason (CurlErrorToStatus, the
// table in curl_http_transport.h). The transport's queues and loop are in
// curl_http_transport.cc; this is everything about a single request.

#ifndef SERVER_UPSTREAM_CURL_TRANSFER_H_
#define SERVER_UPSTREAM_CURL_TRANSFER_H_

#include <curl/curl.h>

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/upstream/http_transport.h"

namespace tokenservice {

using HeaderList = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;

// What a transfer's callbacks collect.
struct Transfer {
  size_t max_body_bytes = 0;
  bool body_too_large = false;
  HttpResponse response;
};

// What every transfer is configured with.
struct TransferSettings {
  std::string ca_bundle_file;  // empty: libcurl's default bundle
  std::string user_agent;
};

// The Status for libcurl error `code` (not CURLE_OK) as the table in
// curl_http_transport.h says; `host` goes into the message;
// `deadline_passed` says whether a timeout was the request's deadline
// rather than max_attempt_timeout.
absl::Status CurlErrorToStatus(CURLcode code, absl::string_view host,
                               bool deadline_passed);

// The host of `url` for messages (never the path, query or user info), and
// its origin "scheme://host:port", which names its queue; false when
// libcurl cannot parse it.
bool ParseOrigin(const std::string& url, std::string* host,
                 std::string* origin);

// The request headers as libcurl wants them, plus an empty "Expect:" so that
// a POST never waits for "100 Continue"; kInvalidArgument for a header with
// CR or LF. `host` is for messages.
absl::StatusOr<HeaderList> MakeHeaderList(const HttpHeaders& headers,
                                          absl::string_view host);

// Sets every option of one transfer (TLS verification on, no redirects,
// http and https only, both timeouts `timeout`, a connection of its own for
// a request that must not repeat); returns the first failure.
CURLcode Configure(CURL* handle, const TransferSettings& settings,
                   const HttpRequest& request, const curl_slist* headers,
                   absl::Duration timeout, Transfer* transfer);

// Marks `status` as a failure before any of the request was sent.
absl::Status Unsent(absl::Status status);

// Whether any of the request on `handle` was sent.
bool RequestSent(CURL* handle);

// DEADLINE_EXCEEDED for a request never sent; `when` says at which point.
absl::Status DeadlineBeforeSending(absl::string_view host,
                                   absl::string_view when);

// UNAVAILABLE SERVER_SHUTTING_DOWN; `sent`: whether any of the request may
// have reached the server.
absl::Status ShuttingDown(absl::string_view host, bool sent);

// The result of the transfer on `handle` that ended with `code`: the reply
// (with Retry-After as CURLINFO_RETRY_AFTER reads it) or the error.
absl::StatusOr<HttpResponse> Outcome(CURL* handle, CURLcode code,
                                     Transfer& transfer, absl::string_view host,
                                     bool deadline_passed);

}  // namespace tokenservice

#endif  // SERVER_UPSTREAM_CURL_TRANSFER_H_
