#include "server/rpc/rpc_call.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/fingerprint.h"
#include "server/ops/log.h"
#include "server/rpc/grpc_status.h"
#include "server/rpc/trace_context.h"

namespace tokenservice {
namespace {

// `profile` as a log line may carry it: it comes from the caller unchecked.
std::string LoggableProfile(absl::string_view profile) {
  std::string out(profile.substr(0, kMaxLoggedProfileLength));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  if (profile.size() > kMaxLoggedProfileLength) out += "...";
  return out;
}

}  // namespace

const char* RpcMethodName(RpcMethod method) {
  static constexpr const char* kNames[] = {"Issue",         "Revoke",
                                           "GetTokenInfo",  "ListTokens",
                                           "ExchangeGrant", "WatchRevocations"};
  return kNames[static_cast<int>(method)];
}

RpcRecord::RpcRecord(const GrpcServerMetrics::Method* grpc_metrics,
                     LogRateLimiter* failure_log, RpcMethod method,
                     absl::string_view profile,
                     const grpc::ServerContextBase* context,
                     absl::StatusOr<const CallerRule*> caller)
    : grpc_metrics_(grpc_metrics),
      failure_log_(failure_log),
      method_(method),
      profile_(LoggableProfile(profile)),
      start_(absl::Now()),
      context_(context),
      caller_(caller.ok() ? *caller : nullptr),
      authenticated_(caller.ok()) {
  if (grpc_metrics_ != nullptr) grpc_metrics_->Started();
}

void RpcRecord::set_fingerprint(absl::string_view fingerprint) {
  if (IsFingerprint(fingerprint)) fingerprint_ = std::string(fingerprint);
}

namespace {

// Whether a failure is the request's (INFO) rather than the server's or
// myPOS's (WARNING).
bool CallersFault(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kAborted:
      return true;
    default:
      return false;
  }
}

// A Revoke refused before it could act: not an audit event.
bool RefusedBeforeActing(absl::StatusCode code) {
  return code == absl::StatusCode::kUnauthenticated ||
         code == absl::StatusCode::kPermissionDenied ||
         code == absl::StatusCode::kInvalidArgument;
}

}  // namespace

void RpcRecord::Write(LogLevel level, absl::string_view event,
                      const absl::Status& status,
                      absl::Duration latency) const {
  const std::string method(RpcMethodName(method_));
  std::vector<LogField> fields = {
      {"method", method},
      {"code", absl::StatusCodeToString(status.code())},
      {"duration_ms", absl::ToInt64Milliseconds(latency)},
      {"caller", !authenticated_      ? std::string("(unauthenticated)")
                 : caller_ == nullptr ? std::string("(any)")
                                      : caller_->name},
      {"profile", profile_}};
  std::string peer;
  std::string trace_id;
  if (context_ != nullptr) {
    peer = context_->peer();
    fields.emplace_back("peer", peer);
    const auto& metadata = context_->client_metadata();
    if (auto it = metadata.find(kTraceparentKey); it != metadata.end()) {
      trace_id =
          TraceIdOf(absl::string_view(it->second.data(), it->second.size()));
    }
    if (!trace_id.empty()) fields.emplace_back("trace_id", trace_id);
  }
  if (!fingerprint_.empty()) fields.emplace_back("fingerprint", fingerprint_);
  // Status messages never hold secrets or tokens (docs/errors.md).
  if (!status.ok()) fields.emplace_back("error", status.message());
  Log(level, event,
      absl::StrCat(method, status.ok() ? " succeeded" : " failed: ",
                   status.ok() ? "" : absl::StatusCodeToString(status.code())),
      fields);
}

void RpcRecord::End(const absl::Status& status) const {
  const absl::Duration latency = absl::Now() - start_;
  if (grpc_metrics_ != nullptr) {
    grpc_metrics_->Handled(static_cast<int>(status.code()), latency);
  }
  const bool audit =
      method_ == RpcMethod::kRevoke && !RefusedBeforeActing(status.code());
  const LogLevel level = status.ok() || CallersFault(status.code())
                             ? LogLevel::kInfo
                             : LogLevel::kWarning;
  // A Revoke that revoked: never held back (each one evicted a token or
  // reached myPOS, so they come no faster than that). A failed one, whose
  // code cannot tell whether it acted, is bounded like any failure.
  if (audit && status.ok()) {
    Write(level, "revoke_audit", status, latency);
    return;
  }
  if (status.ok()) {
    if (LogEnabled(LogLevel::kDebug)) {
      Write(LogLevel::kDebug, "rpc_done", status, latency);
    }
    return;
  }
  // Failures, failed Revokes included: bounded, so that a flood of them
  // cannot grow the log without bound.
  if (!LogEnabled(level)) return;
  int64_t suppressed = 0;
  if (failure_log_ != nullptr && !failure_log_->Allow(&suppressed)) return;
  if (suppressed > 0) {
    Log(LogLevel::kWarning, "rpc_failed_suppressed",
        "failed calls not logged since the last rpc_failed line (too many "
        "per second)",
        {{"suppressed", suppressed}});
  }
  Write(level, audit ? "revoke_audit" : "rpc_failed", status, latency);
}

namespace {

// The status to send for `status`, with the retry trailer on `context` when
// it is retryable.
grpc::Status Answer(grpc::CallbackServerContext* context,
                    const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  if (std::optional<absl::Duration> delay = RetryDelay(status)) {
    // A retry the caller's deadline would not wait for is not made (gRFC
    // A6: a negative pushback), so the caller gets this answer, with its
    // reason, now rather than DEADLINE_EXCEEDED later.
    const absl::Time deadline = absl::FromChrono(context->deadline());
    context->AddTrailingMetadata(
        kRetryPushbackKey,
        absl::Now() + *delay >= deadline
            ? std::string("-1")
            : absl::StrCat(absl::ToInt64Milliseconds(*delay)));
  }
  return ToGrpcStatus(status);
}

}  // namespace

grpc::ServerUnaryReactor* FinishInline(grpc::CallbackServerContext* context,
                                       const RpcRecord& record,
                                       const absl::Status& status) {
  record.End(status);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(Answer(context, status));
  return reactor;
}

void PendingCalls::Add(RpcCall* call) {
  MutexLock lock(&mu_);
  calls_.insert(call);
}

void PendingCalls::Remove(RpcCall* call) {
  MutexLock lock(&mu_);
  calls_.erase(call);
}

void PendingCalls::FinishAll(
    absl::FunctionRef<absl::Status(RpcMethod)> status_for) {
  std::vector<RpcCall::CallRef> claimed;
  {
    // A call being deleted waits in Remove() until this ends; its claim
    // then fails, since whoever finished it claimed it first.
    MutexLock lock(&mu_);
    for (RpcCall* call : calls_) {
      if (std::optional<RpcCall::CallRef> ref = call->TryClaim()) {
        claimed.push_back(*std::move(ref));
      }
    }
  }
  // Finished outside the lock: gRPC may delete a call as it finishes.
  for (RpcCall::CallRef& ref : claimed) ref->Finish(status_for(ref->method()));
}

void RpcCall::Finish(const absl::Status& status) {
  record_.End(status);
  grpc::ServerUnaryReactor::Finish(Answer(context_, status));
}

void RpcCall::OnCancel() {
  published_.load(std::memory_order_acquire);  // see Publish()
  if (ClaimOnce()) {
    Finish(absl::Now() >= deadline_
               ? absl::DeadlineExceededError(
                     "the caller's deadline passed before the call completed")
               : absl::CancelledError(
                     "the call was cancelled before it completed (the caller "
                     "cancelled it, or the server is shutting down)"));
  }
  // gRPC's reference holds the call until OnDone, which comes after this.
  cancellation_.Cancel();
}

}  // namespace tokenservice
