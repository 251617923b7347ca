#include "server/upstream/curl_transfer.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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

// Appends `line` to `list`; false when out of memory.
bool Append(const std::string& line, HeaderList* list) {
  curl_slist* head = curl_slist_append(list->get(), line.c_str());
  if (head == nullptr) return false;
  (void)list->release();  // `head` is the same list, or its first node.
  list->reset(head);
  return true;
}

// Retry-After as the class comment says: libcurl's 0 means "none" only
// when the reply has no such header.
void ReadRetryAfter(CURL* handle, HttpResponse* response) {
  curl_off_t seconds = 0;
  if (curl_easy_getinfo(handle, CURLINFO_RETRY_AFTER, &seconds) != CURLE_OK) {
    return;
  }
  const bool present = std::any_of(
      response->headers.begin(), response->headers.end(),
      [](const auto& header) { return header.first == "retry-after"; });
  if (seconds > 0 || present) {
    response->retry_after = absl::Seconds(std::max<curl_off_t>(seconds, 0));
  }
}

}  // namespace

bool ParseOrigin(const std::string& url, std::string* host,
                 std::string* origin) {
  *host = "unparseable URL";
  CURLU* parsed = curl_url();
  char* parts[3] = {nullptr, nullptr, nullptr};
  const bool ok =
      parsed != nullptr &&
      curl_url_set(parsed, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(parsed, CURLUPART_HOST, &parts[0], 0) == CURLUE_OK &&
      curl_url_get(parsed, CURLUPART_SCHEME, &parts[1], 0) == CURLUE_OK &&
      curl_url_get(parsed, CURLUPART_PORT, &parts[2], CURLU_DEFAULT_PORT) ==
          CURLUE_OK;
  if (ok) {
    *host = parts[0];
    *origin = absl::StrCat(parts[1], "://", parts[0], ":", parts[2]);
  }
  for (char* part : parts) curl_free(part);
  curl_url_cleanup(parsed);
  return ok;
}

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

CURLcode Configure(CURL* handle, const TransferSettings& settings,
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
  set(CURLOPT_USERAGENT, settings.user_agent.c_str());
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_FOLLOWLOCATION, 0L);
  set(CURLOPT_PROTOCOLS_STR, "http,https");
  set(CURLOPT_SSL_VERIFYPEER, 1L);
  set(CURLOPT_SSL_VERIFYHOST, 2L);
  if (!settings.ca_bundle_file.empty()) {
    set(CURLOPT_CAINFO, settings.ca_bundle_file.c_str());
  }
  const long timeout_ms = static_cast<long>(absl::ToInt64Milliseconds(timeout));
  set(CURLOPT_TIMEOUT_MS, timeout_ms);
  set(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  set(CURLOPT_WRITEFUNCTION, &OnBody);
  set(CURLOPT_WRITEDATA, transfer);
  set(CURLOPT_HEADERFUNCTION, &OnHeader);
  set(CURLOPT_HEADERDATA, transfer);
  // A request that must not repeat opens a connection and leaves none.
  set(CURLOPT_FRESH_CONNECT, request.idempotent ? 0L : 1L);
  set(CURLOPT_FORBID_REUSE, request.idempotent ? 0L : 1L);
  return code;
}

absl::Status Unsent(absl::Status status) {
  return WithErrorMetadata(std::move(status), kMetadataRequestSent, "false");
}

bool RequestSent(CURL* handle) {
  long request_bytes = 0;  // NOLINT(runtime/int): libcurl's type
  curl_easy_getinfo(handle, CURLINFO_REQUEST_SIZE, &request_bytes);
  return request_bytes > 0;
}

absl::Status DeadlineBeforeSending(absl::string_view host,
                                   absl::string_view when) {
  return Unsent(WithReason(
      absl::DeadlineExceededError(absl::StrCat("HTTP request deadline passed ",
                                               when, " (host ", host, ")")),
      kReasonDeadlineExceeded));
}

absl::Status ShuttingDown(absl::string_view host, bool sent) {
  absl::Status status = WithReason(
      absl::UnavailableError(absl::StrCat(
          "HTTP request ended: the server is shutting down (host ", host, ")")),
      kReasonServerShuttingDown);
  return sent ? status : Unsent(std::move(status));
}

absl::StatusOr<HttpResponse> Outcome(CURL* handle, CURLcode code,
                                     Transfer& transfer, absl::string_view host,
                                     bool deadline_passed) {
  // Known (or 0) even when the transfer failed after the headers arrived.
  long status = 0;  // NOLINT(runtime/int): libcurl's type
  const CURLcode info =
      curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  if (code == CURLE_OK) code = info;
  transfer.response.status = static_cast<int>(status);
  if (transfer.body_too_large) {
    return WithReason(absl::UnavailableError(absl::StrCat(
                          "myPOS reply (HTTP ", transfer.response.status,
                          ") rejected: reply body exceeds ",
                          transfer.max_body_bytes, " bytes (host ", host, ")")),
                      kReasonUpstreamBadReply);
  }
  if (code != CURLE_OK) {
    absl::Status error = CurlErrorToStatus(code, host, deadline_passed);
    // Nothing of the request left: myPOS cannot have acted on it.
    return RequestSent(handle) ? error : Unsent(std::move(error));
  }
  ReadRetryAfter(handle, &transfer.response);
  return std::move(transfer.response);
}

}  // namespace tokenservice
