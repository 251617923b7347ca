#include "client/token_client.h"

#include <algorithm>
#include <future>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "base/blocking_stream.h"
#include "base/fingerprint.h"
#include "base/time_util.h"
#include "client/call_context.h"

namespace tokenservice {

namespace v1 = ::mypos::token::v1;

// One Issue call for one key. The leader writes `result` once, before
// `done` is set; waiters read it only after. (A std::promise rather than
// absl::Notification, which ThreadSanitizer cannot see: base/mutex.h.)
struct TokenClient::Flight {
  explicit Flight(std::string rejected)
      : rejected_fingerprint(rejected), ready(done.get_future().share()) {}
  const std::string rejected_fingerprint;
  std::promise<void> done;
  std::shared_future<void> ready;
  absl::StatusOr<TokenPtr> result;
  // Threads that joined this call rather than leading it, counted under
  // TokenClient::mu_ on the miss path only (AwaitFlightWaitersForTesting).
  int waiters = 0;
};

namespace {

// grpc::StatusCode and absl::StatusCode share their numbering.
absl::Status FromGrpcStatus(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

}  // namespace

absl::Status TokenClient::ValidateOptions(const Options& options) {
  if (options.call_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("call_timeout must be positive");
  }
  if (options.expiry_margin < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("expiry_margin must not be negative");
  }
  if (options.min_validity <= options.expiry_margin) {
    return absl::InvalidArgumentError(
        "min_validity must be longer than expiry_margin");
  }
  if (options.revocation_grace <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("revocation_grace must be positive");
  }
  if (!options.caller_key.empty()) {
    return ValidateCallerKey("options", options.caller_key);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TokenClient>> TokenClient::Create(
    const ChannelOptions& channel, Options options,
    std::shared_ptr<const Clock> clock) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> created =
      CreateTokenServiceChannel(channel);
  if (!created.ok()) return created.status();
  if (clock == nullptr) clock = std::make_shared<SystemClock>();
  return std::make_unique<TokenClient>(
      v1::TokenService::NewStub(*std::move(created)), std::move(options),
      std::move(clock));
}

TokenClient::TokenClient(std::shared_ptr<v1::TokenService::StubInterface> stub,
                         Options options, std::shared_ptr<const Clock> clock)
    : stub_(std::move(stub)),
      options_(std::move(options)),
      clock_(std::move(clock)),
      serve_until_(
          options_.watch_revocations
              ? absl::ToUnixNanos(clock_->Now() + options_.revocation_grace)
              : std::numeric_limits<int64_t>::max()) {
  if (options_.watch_revocations) {
    watch_thread_ = std::thread([this] { WatchLoop(); });
  }
}

TokenClient::~TokenClient() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    if (watch_context_ != nullptr) watch_context_->TryCancel();
  }
  if (watch_thread_.joinable()) watch_thread_.join();
}

bool TokenClient::IsUsable(const Token& token, absl::Time now) const {
  if (now >= token.expire_time - options_.expiry_margin) return false;
  const int64_t until = serve_until_.load(std::memory_order_relaxed);
  return until == std::numeric_limits<int64_t>::max() ||
         absl::ToUnixNanos(now) < until;
}

void TokenClient::DropLocked(const v1::RevocationBatch* named) {
  bool dropped = false;
  for (auto& [key, entry] : entries_) {
    if (entry.token == nullptr) continue;
    if (named == nullptr ||
        std::find(named->fingerprints().begin(), named->fingerprints().end(),
                  entry.token->fingerprint) != named->fingerprints().end()) {
      entry.token = nullptr;
      dropped = true;
    }
  }
  if (dropped) local_.Invalidate();  // in every thread
  if (named == nullptr) return;
  for (const std::string& fingerprint : named->fingerprints()) {
    recent_revocations_.push_back(fingerprint);
    if (recent_revocations_.size() > kRecentRevocations) {
      recent_revocations_.pop_front();
    }
  }
}

void TokenClient::WatchLoop() {
  constexpr absl::Duration kFirstDelay = absl::Milliseconds(100);
  constexpr absl::Duration kMaxDelay = absl::Seconds(5);
  absl::Duration delay = kFirstDelay;
  while (true) {
    grpc::ClientContext context;
    PrepareCallContext(context, absl::InfiniteFuture(), options_.caller_key);
    {
      MutexLock lock(&mu_);
      if (stopping_) return;
      watch_context_ = &context;
    }
    // On the callback API where the stub has one, so that this thread
    // waits outside gRPC's poller (base/blocking_stream.h says why); else
    // (a hand-written stub) on the sync API.
    std::shared_ptr<
        BlockingReader<v1::WatchRevocationsRequest, v1::RevocationBatch>>
        reader;
    std::unique_ptr<grpc::ClientReaderInterface<v1::RevocationBatch>>
        sync_reader;
    if (auto* async = stub_->async(); async != nullptr) {
      reader = std::make_shared<
          BlockingReader<v1::WatchRevocationsRequest, v1::RevocationBatch>>();
      async->WatchRevocations(&context, &reader->request(), reader.get());
      reader->Start();
    } else {
      sync_reader =
          stub_->WatchRevocations(&context, v1::WatchRevocationsRequest());
      if (sync_reader == nullptr) {
        // A generated mock with no stream set up: cache as before.
        MutexLock lock(&mu_);
        watch_context_ = nullptr;
        serve_until_.store(std::numeric_limits<int64_t>::max(),
                           std::memory_order_relaxed);
        watch_unsupported_ = true;
        return;
      }
    }
    auto read = [&](v1::RevocationBatch* batch) {
      return reader != nullptr ? reader->Read(batch) : sync_reader->Read(batch);
    };
    v1::RevocationBatch batch;
    bool live = false;
    while (read(&batch)) {
      MutexLock lock(&mu_);
      if (!live) {
        // Revocations made while the stream was down are not replayed.
        live = watch_live_ = true;
        DropLocked(nullptr);
        serve_until_.store(std::numeric_limits<int64_t>::max(),
                           std::memory_order_relaxed);
        delay = kFirstDelay;
      }
      DropLocked(&batch);
    }
    const grpc::Status status =
        reader != nullptr ? reader->Finish() : sync_reader->Finish();
    MutexLock lock(&mu_);
    watch_context_ = nullptr;
    if (live) {
      watch_live_ = false;
      serve_until_.store(
          absl::ToUnixNanos(clock_->Now() + options_.revocation_grace),
          std::memory_order_relaxed);
    }
    if (stopping_) return;
    if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      // A server from before WatchRevocations: cache as before.
      serve_until_.store(std::numeric_limits<int64_t>::max(),
                         std::memory_order_relaxed);
      watch_unsupported_ = true;
      return;
    }
    mu_.AwaitWithDeadline(absl::Condition(&stopping_), absl::Now() + delay);
    if (stopping_) return;
    delay = std::min(delay * 2, kMaxDelay);
  }
}

bool TokenClient::AwaitWatchForTesting(bool live, absl::Time deadline) const {
  MutexLock lock(&mu_);
  auto reached = [this, live]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return watch_live_ == live;
  };
  return mu_.AwaitWithDeadline(absl::Condition(&reached), deadline);
}

bool TokenClient::AwaitWatchUnsupportedForTesting(absl::Time deadline) const {
  MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline(absl::Condition(&watch_unsupported_), deadline);
}

bool TokenClient::AwaitRevocationForTesting(absl::string_view fingerprint,
                                            absl::Time deadline) const {
  MutexLock lock(&mu_);
  auto seen = [this, fingerprint]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return std::find(recent_revocations_.begin(), recent_revocations_.end(),
                     fingerprint) != recent_revocations_.end();
  };
  return mu_.AwaitWithDeadline(absl::Condition(&seen), deadline);
}

absl::StatusOr<TokenClient::TokenPtr> TokenClient::GetToken(
    const TokenKey& key) {
  const absl::Time now = clock_->Now();
  // The hit path: nothing here writes memory that another thread uses.
  if (const TokenPtr* mine = local_.Find(key.cache_key());
      mine != nullptr && IsUsable(**mine, now)) {
    return *mine;
  }
  TokenPtr current;
  uint64_t generation = 0;
  {
    ReaderMutexLock lock(&mu_);
    auto it = entries_.find(key.cache_key());
    if (it != entries_.end() && it->second.token != nullptr &&
        IsUsable(*it->second.token, now)) {
      current = it->second.token;
      generation = local_.generation();
    }
  }
  if (current != nullptr) {
    return local_.Store(key.cache_key(), generation, current);
  }
  // Not filled from here: the next call takes the token from entries_.
  return Fetch(key, "");
}

absl::StatusOr<TokenClient::TokenPtr> TokenClient::ReportRejected(
    const Token& token) {
  return ReportRejected(token.key, token.access_token);
}

absl::StatusOr<TokenClient::TokenPtr> TokenClient::ReportRejected(
    const TokenKey& key, absl::string_view access_token) {
  return Fetch(key, Fingerprint(access_token));
}

absl::StatusOr<TokenClient::TokenPtr> TokenClient::Fetch(
    const TokenKey& key, const std::string& rejected_fingerprint) {
  for (;;) {
    std::shared_ptr<Flight> flight;
    bool lead = false;
    {
      MutexLock lock(&mu_);
      Entry& entry = entries_[key.cache_key()];
      if (entry.token != nullptr &&
          entry.token->fingerprint == rejected_fingerprint) {
        entry.token = nullptr;  // never hand out a rejected token again
        local_.Invalidate();    // in no thread
      }
      if (entry.token != nullptr && IsUsable(*entry.token, clock_->Now())) {
        return entry.token;  // cached, or another thread replaced it
      }
      if (entry.flight == nullptr) {
        entry.flight = std::make_shared<Flight>(rejected_fingerprint);
        lead = true;
      } else {
        ++entry.flight->waiters;
      }
      flight = entry.flight;
    }
    if (lead) {
      absl::StatusOr<TokenPtr> result = CallIssue(key, rejected_fingerprint);
      {
        MutexLock lock(&mu_);
        Entry& entry = entries_[key.cache_key()];
        // Not kept when the stream brought its revocation while the call
        // was answered (the server handed it out just before).
        if (result.ok() &&
            std::find(recent_revocations_.begin(), recent_revocations_.end(),
                      (*result)->fingerprint) == recent_revocations_.end()) {
          entry.token = *result;
          local_.Invalidate();  // threads' copies of the old one are stale
        }
        entry.flight = nullptr;
      }
      flight->result = result;
      flight->done.set_value();
      return result;
    }
    flight->ready.wait();
    // A call that did not report this fingerprint may have returned the
    // very token being reported (the server did not know yet): then go
    // round and report it.
    if (rejected_fingerprint.empty() ||
        flight->rejected_fingerprint == rejected_fingerprint ||
        !flight->result.ok() ||
        (*flight->result)->fingerprint != rejected_fingerprint) {
      return flight->result;
    }
  }
}

void TokenClient::AwaitFlightWaitersForTesting(const TokenKey& key,
                                               int n) const {
  MutexLock lock(&mu_);
  auto joined = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = entries_.find(key.cache_key());
    return it != entries_.end() && it->second.flight != nullptr &&
           it->second.flight->waiters >= n;
  };
  mu_.Await(absl::Condition(&joined));
}

absl::StatusOr<v1::ExchangeGrantResponse> TokenClient::ExchangeGrant(
    const v1::ExchangeGrantRequest& request) const {
  grpc::ClientContext context;
  PrepareCallContext(context, absl::Now() + options_.call_timeout,
                     options_.caller_key);
  v1::ExchangeGrantResponse response;
  grpc::Status status = stub_->ExchangeGrant(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<TokenClient::TokenPtr> TokenClient::CallIssue(
    const TokenKey& key, const std::string& rejected_fingerprint) {
  v1::IssueRequest request;
  request.set_credential(key.credential());
  for (const std::string& scope : key.scopes()) request.add_scopes(scope);
  *request.mutable_min_validity() = ToProtoDuration(options_.min_validity);
  request.set_rejected_fingerprint(rejected_fingerprint);

  grpc::ClientContext context;
  PrepareCallContext(context, absl::Now() + options_.call_timeout,
                     options_.caller_key);
  v1::IssueResponse response;
  grpc::Status status = stub_->Issue(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  if (response.access_token().empty()) {
    return absl::UnavailableError("TokenService returned an empty token");
  }
  return std::make_shared<const Token>(TokenFromIssueResponse(key, response));
}

}  // namespace tokenservice
