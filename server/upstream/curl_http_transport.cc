#include "server/upstream/curl_http_transport.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <list>
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

// curl_multi_poll's sleep when nothing is due: Post() and Shutdown() wake
// it, so this only bounds it.
constexpr int kIdlePollMs = 60 * 1000;

using CurlHandle = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;
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

// The host of `url` for messages (never the path, query or user info), and
// its origin "scheme://host:port", which names its queue; false when
// libcurl cannot parse it.
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
  // A request that must not repeat opens a connection and leaves none.
  set(CURLOPT_FRESH_CONNECT, request.idempotent ? 0L : 1L);
  set(CURLOPT_FORBID_REUSE, request.idempotent ? 0L : 1L);
  return code;
}

// Marks `status` as a failure before any of the request was sent.
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

// `sent`: whether any of the request may have reached the server.
absl::Status ShuttingDown(absl::string_view host, bool sent) {
  absl::Status status = WithReason(
      absl::UnavailableError(absl::StrCat(
          "HTTP request ended: the server is shutting down (host ", host, ")")),
      kReasonServerShuttingDown);
  return sent ? status : Unsent(std::move(status));
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

// The result of the transfer on `handle` that ended with `code`.
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

CURLM* NewMultiHandle() {
  static absl::once_flag once;
  absl::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURLM* multi = curl_multi_init();
  // Only without memory, at start-up: there is nothing to run without it.
  if (multi == nullptr) std::abort();
  return multi;
}

}  // namespace

struct CurlHttpTransport::Call {
  Call(HttpRequest request, HttpCallback done)
      : request(std::move(request)), done(std::move(done)) {}

  HttpRequest request;
  HttpCallback done;
  // Set by Post(), on the caller's thread.
  std::string host;    // for messages
  std::string origin;  // the host's queue
  absl::Status error;  // the request cannot be made
  HeaderList headers{nullptr, &curl_slist_free_all};
  // Set by the loop.
  Host* at = nullptr;
  std::list<CallPtr>::iterator queue_entry;
  std::multimap<absl::Time, Call*>::iterator deadline_entry;
  bool deadline_bound = false;  // its timeout is the deadline's
  Transfer transfer;
  absl::StatusOr<HttpResponse> result;
  CurlHandle handle{nullptr, &curl_easy_cleanup};  // last: goes first
};

struct CurlHttpTransport::Host {
  int running = 0;
  // First come, first served within a lane.
  std::list<CallPtr> reserved;
  std::list<CallPtr> caller;
};

CurlHttpTransport::CurlHttpTransport(Options options)
    : options_(std::move(options)),
      multi_(NewMultiHandle()),
      share_(curl_share_init()) {
  // Idle connections kept for reuse. The per-host cap is our queue's:
  // CURLMOPT_MAX_HOST_CONNECTIONS would queue inside libcurl, past our
  // lanes and deadlines.
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS,
                    static_cast<long>(  // NOLINT(runtime/int)
                        std::max(options_.max_connections_per_host, 1)));
  // Only the loop thread uses it: no lock functions needed.
  if (share_ != nullptr) {
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  thread_ = std::thread([this] { Loop(); });
}

CurlHttpTransport::~CurlHttpTransport() {
  Shutdown();
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  curl_multi_wakeup(multi_);
  thread_.join();
  curl_multi_cleanup(multi_);
  curl_share_cleanup(share_);
}

void CurlHttpTransport::Post(HttpRequest request, HttpCallback done) {
  auto call = std::make_unique<Call>(std::move(request), std::move(done));
  if (!ParseOrigin(call->request.url, &call->host, &call->origin)) {
    call->error =
        Unsent(CurlErrorToStatus(CURLE_URL_MALFORMAT, call->host, false));
  } else if (!absl::StartsWith(call->origin, "http://") &&
             !absl::StartsWith(call->origin, "https://")) {
    call->error = Unsent(
        CurlErrorToStatus(CURLE_UNSUPPORTED_PROTOCOL, call->host, false));
  } else {
    absl::StatusOr<HeaderList> headers =
        MakeHeaderList(call->request.headers, call->host);
    if (headers.ok()) {
      call->headers = *std::move(headers);
    } else {
      call->error = Unsent(headers.status());
    }
  }
  {
    MutexLock lock(&mu_);
    inbox_.push_back(std::move(call));
  }
  curl_multi_wakeup(multi_);
}

void CurlHttpTransport::Shutdown() {
  uint64_t asked = 0;
  {
    MutexLock lock(&mu_);
    shutting_down_ = true;
    asked = ++shutdowns_asked_;
  }
  curl_multi_wakeup(multi_);
  // From a callback: the loop ends the rest once it returns.
  if (std::this_thread::get_id() == thread_.get_id()) return;
  // Every request posted before this call is in the inbox the loop takes
  // with `asked` or a later count, and answered before it reports that.
  MutexLock lock(&mu_);
  auto done = [this, asked]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return shutdowns_done_ >= asked;
  };
  mu_.Await(absl::Condition(&done));
}

// One turn: libcurl's progress and what it finished, then what was posted
// (taken after that, so that a slot freed by a reply goes to the right
// lane even if the request was posted just before the reply came), then
// the callbacks, then sleep until something happens.
void CurlHttpTransport::Loop() {
  for (;;) {
    int still_running = 0;
    curl_multi_perform(multi_, &still_running);
    CollectDone();
    std::vector<CallPtr> arrived;
    bool shutting_down = false;
    bool stopping = false;
    uint64_t shutdowns = 0;
    {
      MutexLock lock(&mu_);
      arrived.swap(inbox_);
      shutting_down = shutting_down_;
      shutdowns = shutdowns_asked_;
      stopping = stopping_;
    }
    if (shutting_down) {
      EndAll(std::move(arrived));
    } else {
      const absl::Time now = absl::Now();
      for (CallPtr& call : arrived) Admit(std::move(call), now);
      ExpireQueued(now);
      StartQueued();
    }
    RunCallbacks();
    if (shutting_down) {
      MutexLock lock(&mu_);
      shutdowns_done_ = shutdowns;
    }
    if (stopping) return;
    curl_multi_poll(multi_, nullptr, 0, PollTimeoutMs(), nullptr);
  }
}

void CurlHttpTransport::Admit(CallPtr call, absl::Time now) {
  if (!call->error.ok()) {
    absl::Status error = call->error;
    return Finish(std::move(call), std::move(error));
  }
  if (call->request.options.deadline <= now) {
    const std::string host = call->host;
    return Finish(std::move(call),
                  DeadlineBeforeSending(host, "before sending"));
  }
  std::unique_ptr<Host>& host = hosts_[call->origin];
  if (host == nullptr) host = std::make_unique<Host>();
  std::list<CallPtr>& queue = call->request.options.lane == Lane::kReserved
                                  ? host->reserved
                                  : host->caller;
  Call* queued = call.get();
  queued->at = host.get();
  queued->deadline_entry =
      queued_deadlines_.emplace(queued->request.options.deadline, queued);
  queued->queue_entry = queue.insert(queue.end(), std::move(call));
}

void CurlHttpTransport::ExpireQueued(absl::Time now) {
  while (!queued_deadlines_.empty() &&
         queued_deadlines_.begin()->first <= now) {
    CallPtr call = Dequeue(queued_deadlines_.begin()->second);
    const std::string host = call->host;
    Finish(std::move(call),
           DeadlineBeforeSending(host, "while waiting for a connection"));
  }
}

void CurlHttpTransport::StartQueued() {
  for (auto it = hosts_.begin(); it != hosts_.end();) {
    Host& host = *it->second;
    StartQueued(host);
    if (host.running == 0 && host.reserved.empty() && host.caller.empty()) {
      hosts_.erase(it++);
    } else {
      ++it;
    }
  }
}

void CurlHttpTransport::StartQueued(Host& host) {
  const int max = std::max(options_.max_connections_per_host, 1);
  const int caller_max = max - max / 4;
  for (;;) {
    Call* next = nullptr;
    if (!host.reserved.empty() && host.running < max) {
      next = host.reserved.front().get();
    } else if (!host.caller.empty() && host.running < caller_max) {
      next = host.caller.front().get();
    } else {
      return;
    }
    CallPtr call = Dequeue(next);
    if (call->request.options.wanted && !call->request.options.wanted()) {
      const std::string message = absl::StrCat(
          "HTTP request dropped unsent: nobody waits for it any more (host ",
          call->host, ")");
      Finish(std::move(call), Unsent(absl::CancelledError(message)));
      continue;
    }
    Start(std::move(call));
  }
}

void CurlHttpTransport::Start(CallPtr call) {
  const absl::Duration remaining = call->request.options.deadline - absl::Now();
  if (remaining <= absl::ZeroDuration()) {
    const std::string host = call->host;
    return Finish(std::move(call),
                  DeadlineBeforeSending(host, "before sending"));
  }
  call->deadline_bound = remaining <= options_.max_attempt_timeout;
  // Rounded up: libcurl must not give up before the deadline.
  const absl::Duration timeout = absl::Ceil(
      std::min(remaining, options_.max_attempt_timeout), absl::Milliseconds(1));
  call->handle.reset(curl_easy_init());
  CURL* handle = call->handle.get();
  CURLcode code = CURLE_FAILED_INIT;
  if (handle != nullptr) {
    call->transfer.max_body_bytes = options_.max_response_bytes;
    code = Configure(handle, options_, call->request, call->headers.get(),
                     timeout, &call->transfer);
    if (code == CURLE_OK && share_ != nullptr) {
      code = curl_easy_setopt(handle, CURLOPT_SHARE, share_);
    }
  }
  if (code == CURLE_OK) {
    const CURLMcode added = curl_multi_add_handle(multi_, handle);
    if (added != CURLM_OK) {
      code = added == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY
                                          : CURLE_FAILED_INIT;
    }
  }
  if (code != CURLE_OK) {
    absl::Status error = Unsent(CurlErrorToStatus(code, call->host, false));
    return Finish(std::move(call), std::move(error));
  }
  ++call->at->running;
  running_.emplace(handle, std::move(call));
}

void CurlHttpTransport::CollectDone() {
  int left = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
    if (message->msg != CURLMSG_DONE) continue;
    CURL* const handle = message->easy_handle;
    const CURLcode code = message->data.result;  // `message` dies next
    curl_multi_remove_handle(multi_, handle);
    auto it = running_.find(handle);
    if (it == running_.end()) continue;
    CallPtr call = std::move(it->second);
    running_.erase(it);
    --call->at->running;
    const bool deadline_passed =
        call->deadline_bound || absl::Now() >= call->request.options.deadline;
    absl::StatusOr<HttpResponse> result =
        Outcome(handle, code, call->transfer, call->host, deadline_passed);
    Finish(std::move(call), std::move(result));
  }
}

void CurlHttpTransport::EndAll(std::vector<CallPtr> arrived) {
  for (auto& [handle, call] : running_) {
    curl_multi_remove_handle(multi_, handle);
    absl::Status error = ShuttingDown(call->host, RequestSent(handle));
    Finish(std::move(call), std::move(error));
  }
  running_.clear();
  for (auto& [origin, host] : hosts_) {
    for (std::list<CallPtr>* queue : {&host->reserved, &host->caller}) {
      for (CallPtr& call : *queue) {
        absl::Status error = ShuttingDown(call->host, false);
        Finish(std::move(call), std::move(error));
      }
    }
  }
  hosts_.clear();
  queued_deadlines_.clear();
  for (CallPtr& call : arrived) {
    absl::Status error = ShuttingDown(call->host, false);
    Finish(std::move(call), std::move(error));
  }
}

CurlHttpTransport::CallPtr CurlHttpTransport::Dequeue(Call* call) {
  std::list<CallPtr>& queue = call->request.options.lane == Lane::kReserved
                                  ? call->at->reserved
                                  : call->at->caller;
  queued_deadlines_.erase(call->deadline_entry);
  CallPtr owned = std::move(*call->queue_entry);
  queue.erase(call->queue_entry);
  return owned;
}

void CurlHttpTransport::Finish(CallPtr call,
                               absl::StatusOr<HttpResponse> result) {
  call->result = std::move(result);
  finished_.push_back(std::move(call));
}

void CurlHttpTransport::RunCallbacks() {
  std::vector<CallPtr> finished;
  finished.swap(finished_);
  for (CallPtr& call : finished) {
    if (call->done) std::move(call->done)(std::move(call->result));
    call.reset();  // its handle and buffers, before the next callback
  }
}

int CurlHttpTransport::PollTimeoutMs() const {
  long timeout_ms = -1;  // NOLINT(runtime/int): libcurl's type
  curl_multi_timeout(multi_, &timeout_ms);
  int64_t ms = kIdlePollMs;
  if (timeout_ms >= 0) ms = std::min<int64_t>(ms, timeout_ms);
  if (!queued_deadlines_.empty()) {
    const absl::Duration left = queued_deadlines_.begin()->first - absl::Now();
    if (left < absl::Milliseconds(ms)) {
      ms = absl::ToInt64Milliseconds(absl::Ceil(
          std::max(left, absl::ZeroDuration()), absl::Milliseconds(1)));
    }
  }
  return static_cast<int>(ms);
}

}  // namespace tokenservice
