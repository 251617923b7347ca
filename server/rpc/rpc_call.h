// How a unary RPC of ours ends: RpcRecord, FinishInline and RpcCall.
//
// A call answered before its handler returns (a cache hit, a refusal, a
// metadata read) finishes on gRPC's DefaultReactor through FinishInline:
// gRPC completes that reactor inline, while a reactor of our own has its
// OnDone run through gRPC's executor, a thread hop that the cache-hit path
// cannot afford (BENCHMARKS.md has the measurement).
//
// A call that waits (on myPOS) gets an RpcCall, finished exactly once — by
// the work when it completes, or with CANCELLED/DEADLINE_EXCEEDED as soon
// as gRPC cancels the call, whichever comes first. gRPC's DefaultReactor
// never hears of a cancellation, so a call waiting on myPOS would hold on to
// a caller who has gone away and keep Server::Shutdown waiting past its
// deadline for myPOS to answer. With RpcCall, OnCancel (the caller
// cancelled, its deadline passed, or the server's shutdown grace ran out)
// finishes the call at once; the shared upstream fetch goes on for the
// other callers, and when it completes this call's work finds it already
// claimed and touches nothing of it (its request and response are gone by
// then).
//
// Usage in a callback handler:
//   RpcRecord record(grpc_metrics, &failure_log, RpcMethod::kIssue, profile);
//   if (!allowed.ok()) return FinishInline(context, record, allowed);
//   RpcCall* call = new RpcCall(context, std::move(record), deadline,
//                               pending);
//   StartWork([ref = call->Hold()](Result r) {
//     if (!ref.Claim()) return;      // cancelled first: nothing to do
//     ... write the response ...     // only now is the call ours
//     ref->Finish(r.status());
//   });
//   return call->Publish();
//
// Either way a retryable failure gets the grpc-retry-pushback-ms trailer
// (grpc_status.h says when to retry), and the end is counted in the gRPC
// server's metrics (grpc_server_metrics.h) and logged as RpcRecord says.

#ifndef SERVER_RPC_RPC_CALL_H_
#define SERVER_RPC_RPC_CALL_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/cancellation.h"
#include "base/mutex.h"
#include "server/ops/log.h"
#include "server/ops/log_rate_limiter.h"
#include "server/rpc/caller_policy.h"
#include "server/rpc/grpc_server_metrics.h"

namespace tokenservice {

enum class RpcMethod {
  kIssue,
  kRevoke,
  kGetTokenInfo,
  kListTokens,
  kExchangeGrant,
  kWatchRevocations
};
inline constexpr int kRpcMethods = 6;
// The method's name as in the proto ("Issue", ...).
const char* RpcMethodName(RpcMethod method);

// The longest caller-supplied profile name a log line carries; longer ones
// are cut, and bytes outside printable ASCII become '?'.
inline constexpr size_t kMaxLoggedProfileLength = 64;

// What the metrics and the log need to know of one call. Its start is when
// it is made. Thread-compatible: one call's handler or work uses it at a
// time.
//
// Its log lines (docs/operations.md, "Logs") carry method, code,
// duration_ms, caller (the configured caller's name, "(unauthenticated)",
// or "(any)" when no callers are configured), peer, profile, the
// fingerprint the request names, the trace id of a W3C `traceparent`, and
// error for a failure:
// - rpc_failed for a failed call, at WARNING when the server or myPOS is
//   at fault (UNAVAILABLE, INTERNAL, DEADLINE_EXCEEDED, ...), at INFO when
//   the request is (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, ...);
//   at most what `failure_log` allows (null: all), so that failures cannot
//   grow the log without bound;
// - revoke_audit for every Revoke the caller was allowed to make, whatever
//   its outcome; never held back when it succeeded, bounded like
//   rpc_failed when it failed (its code cannot tell whether it acted). A
//   Revoke refused before it could act is an rpc_failed line like any
//   other;
// - rpc_done at DEBUG for every other call that succeeded.
class RpcRecord {
 public:
  // Counts the call as started in `grpc_metrics` (the method's series;
  // null: not counted), and End() as handled: gRPC runs our methods with
  // no interceptor (grpc_server_metrics.h). `context` (null in tests: no
  // peer, no trace id) must outlive the record's End(); `caller` is what
  // the caller policy made of the caller.
  RpcRecord(const GrpcServerMetrics::Method* grpc_metrics,
            LogRateLimiter* failure_log, RpcMethod method,
            absl::string_view profile,
            const grpc::ServerContextBase* context = nullptr,
            absl::StatusOr<const CallerRule*> caller = nullptr);

  // The fingerprint of the token the request names, for the failure log.
  // Ignored unless it has the form of a fingerprint: a caller who put a
  // token (or anything else) there by mistake must not get it logged.
  void set_fingerprint(absl::string_view fingerprint);

  // Records the call's end with `status`, and logs it as described above.
  void End(const absl::Status& status) const;

  RpcMethod method() const { return method_; }

 private:
  void Write(LogLevel level, absl::string_view event,
             const absl::Status& status, absl::Duration latency) const;

  const GrpcServerMetrics::Method* grpc_metrics_;
  LogRateLimiter* failure_log_;
  RpcMethod method_;
  std::string profile_;
  std::string fingerprint_;
  absl::Time start_;
  const grpc::ServerContextBase* context_;
  // Pointers and a flag, not the name: the hot path copies no more.
  const CallerRule* caller_;
  bool authenticated_;
};

class RpcCall;

// The calls that wait, so that the server's shutdown can answer them itself
// when its grace runs out: cancelled by the gRPC core instead, their
// callers would get UNAVAILABLE "Cancelling all calls" with no ErrorInfo.
// Thread-safe.
class PendingCalls {
 public:
  // Finishes every call still waiting with `status_for` its method, each
  // exactly once; a call that its work or a cancellation finishes first is
  // left alone.
  void FinishAll(absl::FunctionRef<absl::Status(RpcMethod)> status_for)
      ABSL_LOCKS_EXCLUDED(mu_);

  // RpcCall's own: a call adds itself when made and removes itself when
  // deleted.
  void Add(RpcCall* call) ABSL_LOCKS_EXCLUDED(mu_);
  void Remove(RpcCall* call) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Mutex mu_;
  absl::flat_hash_set<RpcCall*> calls_ ABSL_GUARDED_BY(mu_);
};

// Records the call and finishes it with `status` on the context's
// DefaultReactor, which the handler returns.
grpc::ServerUnaryReactor* FinishInline(grpc::CallbackServerContext* context,
                                       const RpcRecord& record,
                                       const absl::Status& status);

// The reactor of a call that waits on myPOS (see the top of this file).
// Thread-safe: gRPC's threads (OnCancel, OnDone) and the work's thread use
// it at once; Claim() decides which of them finishes the call, and the
// reference count when it is deleted.
class RpcCall final : public grpc::ServerUnaryReactor {
 public:
  // A reference the work keeps until it is done with the call; the call
  // is deleted once gRPC is done with it and every CallRef is gone. Move-only.
  class CallRef {
   public:
    CallRef(CallRef&& other) noexcept
        : call_(std::exchange(other.call_, nullptr)) {}
    CallRef& operator=(CallRef&&) = delete;
    CallRef(const CallRef&) = delete;
    ~CallRef() {
      if (call_ != nullptr) call_->Unref();
    }

    // True for whichever comes first of a Claim() and the call's
    // cancellation, false for every other. Only after true may the work
    // touch the call's request or response, and it must then Finish().
    bool Claim() const { return call_->ClaimOnce(); }
    RpcCall* operator->() const { return call_; }

   private:
    friend class RpcCall;
    explicit CallRef(RpcCall* call) : call_(call) {}
    RpcCall* call_;
  };

  // `context` is the call's. `deadline` is the caller's (InfiniteFuture for
  // none): a cancellation after it is counted as DEADLINE_EXCEEDED, before
  // it as CANCELLED. The call is in `pending` (which must outlive it) until
  // it is deleted.
  RpcCall(grpc::CallbackServerContext* context, RpcRecord record,
          absl::Time deadline, PendingCalls* pending)
      : context_(context),
        record_(std::move(record)),
        deadline_(deadline),
        pending_(pending) {
    pending_->Add(this);
  }

  // A reference for the work that finishes the call.
  CallRef Hold() {
    refs_.fetch_add(1, std::memory_order_relaxed);
    return CallRef(this);
  }

  // Records and finishes the call. Call once, after a successful Claim().
  void Finish(const absl::Status& status);

  // Fired when gRPC cancels the call (after it is finished as CANCELLED or
  // DEADLINE_EXCEEDED), so that work shared with other callers lets go of
  // this one at once. Valid while the call is (a CallRef keeps it).
  Cancellation* cancellation() { return &cancellation_; }

  RpcMethod method() const { return record_.method(); }

  // Claims the call if nothing finished it yet, with a reference that keeps
  // it alive until the claimer has finished it.
  std::optional<CallRef> TryClaim() {
    if (!ClaimOnce()) return std::nullopt;
    return Hold();  // not finished, so gRPC's reference still stands
  }

  // The handler's last word: returns the call for the handler to return.
  // (gRPC calls OnCancel only after the handler returned, through its core,
  // which ThreadSanitizer cannot see into; this release store, acquired in
  // OnCancel, shows it that everything the handler wrote comes first.)
  grpc::ServerUnaryReactor* Publish() {
    published_.store(true, std::memory_order_release);
    return this;
  }

  void OnCancel() override;
  void OnDone() override { Unref(); }

 private:
  ~RpcCall() override { pending_->Remove(this); }
  bool ClaimOnce() {
    return !claimed_.exchange(true, std::memory_order_acq_rel);
  }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  grpc::CallbackServerContext* const context_;
  const RpcRecord record_;
  const absl::Time deadline_;
  PendingCalls* const pending_;
  Cancellation cancellation_;
  std::atomic<bool> claimed_{false};
  std::atomic<bool> published_{false};
  // gRPC's, until OnDone; plus one per CallRef.
  std::atomic<int> refs_{1};
};

}  // namespace tokenservice

#endif  // SERVER_RPC_RPC_CALL_H_
