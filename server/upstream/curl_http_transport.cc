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
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "server/ops/error_reason.h"
#include "server/upstream/curl_transfer.h"

namespace tokenservice {
namespace {

// curl_multi_poll's sleep when nothing is due: Post() and Shutdown() wake
// it, so this only bounds it.
constexpr int kIdlePollMs = 60 * 1000;

using CurlHandle = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;

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
    code = Configure(
        handle, TransferSettings{options_.ca_bundle_file, options_.user_agent},
        call->request, call->headers.get(), timeout, &call->transfer);
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
