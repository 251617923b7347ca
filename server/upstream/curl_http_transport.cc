#include "server/upstream/curl_http_transport.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/call_once.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/ops/error_reason.h"

namespace tokenservice {

// The one mapping from a libcurl error to a Status with its reason.
absl::Status CurlErrorToStatus(CURLcode code, absl::string_view host,
                               bool deadline_passed) {
  const std::string what =
      absl::StrCat(curl_easy_strerror(code), " (host ", host, ")");
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      if (deadline_passed) {
        return WithReason(absl::DeadlineExceededError(absl::StrCat(
                              "HTTP request deadline exceeded: ", what)),
                          kReasonDeadlineExceeded);
      }
      return WithReason(absl::UnavailableError(absl::StrCat(
                            "HTTP request attempt timed out: ", what)),
                        kReasonUpstreamUnavailable);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return WithReason(absl::InvalidArgumentError(absl::StrCat(
                            "HTTP request URL cannot be used: ", what)),
                        kReasonBadRequest);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CERTPROBLEM:
      return WithReason(absl::UnavailableError(absl::StrCat(
                            "TLS verification of myPOS failed (check "
                            "--ca_bundle_file): ",
                            what)),
                        kReasonUpstreamTlsFailed);
    // No handle or no memory for one, here rather than at myPOS: as
    // transient as a network failure, and retried the same way.
    case CURLE_FAILED_INIT:
    case CURLE_OUT_OF_MEMORY:
      return WithReason(absl::UnavailableError(absl::StrCat(
                            "HTTP request could not be set up: ", what)),
                        kReasonUpstreamUnavailable);
    // Resolve, connect, send and receive failures, a TLS handshake that
    // broke off, a reply cut short, and anything else: the network.
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_WEIRD_SERVER_REPLY:
    default:
      return WithReason(
          absl::UnavailableError(absl::StrCat("HTTP request failed: ", what)),
          kReasonUpstreamUnavailable);
  }
}

namespace {

// Idle handles kept beyond this many are closed.
constexpr size_t kMaxPooledHandles = 16;

using HeaderList = std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)>;

// What the callbacks collect during one transfer.
struct Transfer {
  size_t max_body_bytes = 0;
  bool body_too_large = false;
  HttpResponse response;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  if (transfer->response.body.size() + bytes > transfer->max_body_bytes) {
    transfer->body_too_large = true;
    return 0;  // Aborts the transfer with CURLE_WRITE_ERROR.
  }
  transfer->response.body.append(data, bytes);
  return bytes;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  const absl::string_view line(data, bytes);
  if (absl::StartsWith(line, "HTTP/")) {
    transfer->response.headers.clear();  // A new reply, e.g. after a 100.
    return bytes;
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return bytes;
  transfer->response.headers.emplace_back(
      absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(0, colon))),
      std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  return bytes;
}

// The host of `url`, for messages: never the path, query or user info.
std::string HostOf(const std::string& url) {
  std::string host = "unparseable URL";
  CURLU* parsed = curl_url();
  char* part = nullptr;
  if (parsed != nullptr &&
      curl_url_set(parsed, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(parsed, CURLUPART_HOST, &part, 0) == CURLUE_OK) {
    host = part;
    curl_free(part);
  }
  curl_url_cleanup(parsed);
  return host;
}

// Appends `line` to `list`; false when out of memory.
bool Append(const std::string& line, HeaderList* list) {
  curl_slist* head = curl_slist_append(list->get(), line.c_str());
  if (head == nullptr) return false;
  (void)list->release();  // `head` is the same list, or its first node.
  list->reset(head);
  return true;
}

// The request headers as libcurl wants them, plus an empty "Expect:" so that
// a POST never waits for "100 Continue". `host` is for messages.
absl::StatusOr<HeaderList> MakeHeaderList(const HttpHeaders& headers,
                                          absl::string_view host) {
  HeaderList list(nullptr, &curl_slist_free_all);
  for (const auto& [name, value] : headers) {
    if (name.find_first_of("\r\n") != std::string::npos ||
        value.find_first_of("\r\n") != std::string::npos) {
      return WithReason(
          absl::InvalidArgumentError(absl::StrCat(
              "HTTP header ", absl::CEscape(name), " contains CR or LF")),
          kReasonBadRequest);
    }
    // libcurl sends "Name;" as a header with an empty value.
    if (!Append(value.empty() ? absl::StrCat(name, ";")
                              : absl::StrCat(name, ": ", value),
                &list)) {
      return CurlErrorToStatus(CURLE_OUT_OF_MEMORY, host, false);
    }
  }
  if (!Append("Expect:", &list)) {
    return CurlErrorToStatus(CURLE_OUT_OF_MEMORY, host, false);
  }
  return list;
}

// Sets every option of one transfer; returns the first failure.
CURLcode Configure(CURL* handle, const CurlHttpTransport::Options& options,
                   const HttpRequest& request, const curl_slist* headers,
                   absl::Duration timeout, Transfer* transfer) {
  CURLcode code = CURLE_OK;
  auto set = [&](CURLoption option, auto value) {
    if (code == CURLE_OK) code = curl_easy_setopt(handle, option, value);
  };
  set(CURLOPT_URL, request.url.c_str());
  set(CURLOPT_POST, 1L);
  set(CURLOPT_POSTFIELDS, request.body.data());
  set(CURLOPT_POSTFIELDSIZE_LARGE,
      static_cast<curl_off_t>(request.body.size()));
  set(CURLOPT_HTTPHEADER, headers);
  set(CURLOPT_USERAGENT, options.user_agent.c_str());
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_FOLLOWLOCATION, 0L);
  set(CURLOPT_PROTOCOLS_STR, "http,https");
  set(CURLOPT_SSL_VERIFYPEER, 1L);
  set(CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_bundle_file.empty()) {
    set(CURLOPT_CAINFO, options.ca_bundle_file.c_str());
  }
  const long timeout_ms = static_cast<long>(absl::ToInt64Milliseconds(timeout));
  set(CURLOPT_TIMEOUT_MS, timeout_ms);
  set(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  set(CURLOPT_WRITEFUNCTION, &OnBody);
  set(CURLOPT_WRITEDATA, transfer);
  set(CURLOPT_HEADERFUNCTION, &OnHeader);
  set(CURLOPT_HEADERDATA, transfer);
  // Set for every transfer: handles are pooled.
  set(CURLOPT_FRESH_CONNECT, request.idempotent ? 0L : 1L);
  set(CURLOPT_FORBID_REUSE, request.idempotent ? 0L : 1L);
  return code;
}

// Runs one transfer on `handle`, filling `transfer` (status included).
CURLcode Perform(CURL* handle, const CurlHttpTransport::Options& options,
                 const HttpRequest& request, const curl_slist* headers,
                 absl::Duration timeout, Transfer* transfer) {
  CURLcode code =
      Configure(handle, options, request, headers, timeout, transfer);
  if (code == CURLE_OK) code = curl_easy_perform(handle);
  // Known (or 0) even when the transfer failed after the headers arrived.
  long status = 0;
  const CURLcode info =
      curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  if (code == CURLE_OK) code = info;
  transfer->response.status = static_cast<int>(status);
  return code;
}

}  // namespace

CurlHttpTransport::CurlHttpTransport(Options options)
    : options_(std::move(options)) {
  static absl::once_flag once;
  absl::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

absl::StatusOr<HttpResponse> CurlHttpTransport::Post(
    const HttpRequest& request) {
  const std::string host = HostOf(request.url);
  const absl::Time now = absl::Now();
  if (request.deadline <= now) {
    return WithErrorMetadata(
        WithReason(absl::DeadlineExceededError(
                       absl::StrCat("HTTP request deadline passed before "
                                    "sending (host ",
                                    host, ")")),
                   kReasonDeadlineExceeded),
        kMetadataRequestSent, "false");
  }
  absl::StatusOr<HeaderList> headers = MakeHeaderList(request.headers, host);
  if (!headers.ok()) return headers.status();
  const absl::Duration remaining = request.deadline - now;
  const bool deadline_bound = remaining <= options_.max_attempt_timeout;
  // Rounded up: libcurl must not give up before the deadline.
  const absl::Duration timeout = absl::Ceil(
      std::min(remaining, options_.max_attempt_timeout), absl::Milliseconds(1));

  CurlHandle handle = AcquireHandle();
  if (handle == nullptr) {
    return WithErrorMetadata(CurlErrorToStatus(CURLE_FAILED_INIT, host, false),
                             kMetadataRequestSent, "false");
  }
  Transfer transfer;
  transfer.max_body_bytes = options_.max_response_bytes;
  const CURLcode code = Perform(handle.get(), options_, request, headers->get(),
                                timeout, &transfer);
  long request_bytes = 0;  // NOLINT(runtime/int): libcurl's type
  curl_easy_getinfo(handle.get(), CURLINFO_REQUEST_SIZE, &request_bytes);
  ReleaseHandle(std::move(handle));

  if (transfer.body_too_large) {
    return WithReason(
        absl::UnavailableError(absl::StrCat(
            "myPOS reply (HTTP ", transfer.response.status,
            ") rejected: reply body exceeds ", options_.max_response_bytes,
            " bytes (host ", host, ")")),
        kReasonUpstreamBadReply);
  }
  if (code != CURLE_OK) {
    absl::Status status = CurlErrorToStatus(
        code, host, deadline_bound || absl::Now() >= request.deadline);
    // Nothing of the request left: myPOS cannot have acted on it.
    if (request_bytes == 0) {
      status =
          WithErrorMetadata(std::move(status), kMetadataRequestSent, "false");
    }
    return status;
  }
  return std::move(transfer.response);
}

CurlHttpTransport::CurlHandle CurlHttpTransport::AcquireHandle() {
  {
    MutexLock lock(&mu_);
    if (!handles_.empty()) {
      CurlHandle handle = std::move(handles_.back());
      handles_.pop_back();
      return handle;
    }
  }
  return CurlHandle(curl_easy_init(), &curl_easy_cleanup);
}

void CurlHttpTransport::ReleaseHandle(CurlHandle handle) {
  // Forget this transfer's options (they point at its buffers); the
  // connection cache survives the reset.
  curl_easy_reset(handle.get());
  MutexLock lock(&mu_);
  if (handles_.size() < kMaxPooledHandles)
    handles_.push_back(std::move(handle));
}

}  // namespace tokenservice
