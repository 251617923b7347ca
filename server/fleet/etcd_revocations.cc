#include "server/fleet/etcd_revocations.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "base/blocking_stream.h"
#include "server/ops/log.h"

namespace tokenservice {
namespace {

namespace pb = ::etcdserverpb;

// The end of the key range holding every key that starts with `prefix`.
std::string RangeEnd(std::string prefix) {
  while (!prefix.empty()) {
    if (static_cast<unsigned char>(prefix.back()) < 0xff) {
      ++prefix.back();
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

absl::Status FromGrpc(absl::string_view what, const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::UnavailableError(
      absl::StrCat("etcd ", what, ": ", status.error_message()));
}

}  // namespace

EtcdRevocations::EtcdRevocations(std::shared_ptr<grpc::Channel> channel,
                                 EtcdRevocationsOptions options,
                                 const Clock* clock)
    : options_(std::move(options)),
      revoked_prefix_(absl::StrCat(options_.prefix, "revoked/")),
      replicas_prefix_(absl::StrCat(options_.prefix, "replicas/")),
      clock_(clock),
      kv_(pb::KV::NewStub(channel)),
      lease_stub_(pb::Lease::NewStub(channel)),
      watch_stub_(pb::Watch::NewStub(channel)) {}

void EtcdRevocations::Start(ApplyFn apply, EventFn others) {
  apply_ = std::move(apply);
  others_ = std::move(others);
  watch_thread_ = std::thread([this] { WatchLoop(); });
  work_thread_ = std::thread([this] { WorkLoop(); });
}

EtcdRevocations::~EtcdRevocations() { Stop(); }

void EtcdRevocations::Stop() {
  int64_t lease;
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    if (watch_context_ != nullptr) watch_context_->TryCancel();
  }
  if (watch_thread_.joinable()) watch_thread_.join();
  if (work_thread_.joinable()) work_thread_.join();
  {
    MutexLock lock(&mu_);
    lease = std::exchange(lease_, 0);
    connected_ = false;
  }
  if (lease != 0) {
    // Leave at once rather than when the lease runs out.
    grpc::ClientContext context;
    Bound(&context);
    pb::LeaseRevokeRequest request;
    request.set_id(lease);
    pb::LeaseRevokeResponse response;
    lease_stub_->LeaseRevoke(&context, request, &response).IgnoreError();
  }
}

void EtcdRevocations::Bound(grpc::ClientContext* context) const {
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
}

void EtcdRevocations::Share(absl::string_view fingerprint, absl::Time expires,
                            ShareCallback done) {
  std::optional<RevocationReach> at_once;
  {
    MutexLock lock(&mu_);
    if (stopping_ || !connected_) {
      // etcd is not there (or this replica is leaving): remembered, to be
      // written once it is, and answered now rather than after timeouts.
      if (!stopping_) {
        absl::Time& latest = unpublished_[fingerprint];
        latest = std::max(latest, expires);
      }
      at_once = RevocationReach{
          false, 1, std::max(1, static_cast<int>(replicas_.size()))};
    } else {
      queue_.push_back({std::string(fingerprint), expires, std::move(done)});
    }
  }
  if (at_once.has_value()) std::move(done)(*at_once);
}

bool EtcdRevocations::connected() const {
  MutexLock lock(&mu_);
  return connected_;
}

int EtcdRevocations::live_replicas() const {
  MutexLock lock(&mu_);
  return static_cast<int>(replicas_.size());
}

bool EtcdRevocations::AwaitReplicas(int replicas, absl::Time deadline) const {
  MutexLock lock(&mu_);
  auto seen = [this, replicas]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return connected_ && static_cast<int>(replicas_.size()) == replicas;
  };
  return mu_.AwaitWithDeadline(absl::Condition(&seen), deadline);
}

size_t EtcdRevocations::unpublished() const {
  MutexLock lock(&mu_);
  return unpublished_.size();
}

SharingHealth EtcdRevocations::Health() const {
  MutexLock lock(&mu_);
  return SharingHealth{connected_, static_cast<int>(replicas_.size()),
                       unpublished_.size()};
}

int64_t EtcdRevocations::lease() const {
  MutexLock lock(&mu_);
  return lease_;
}

// ---------------------------------------------------------------------------
// The watch thread.

void EtcdRevocations::WatchLoop() {
  constexpr absl::Duration kFirstDelay = absl::Milliseconds(50);
  absl::Duration delay = kFirstDelay;
  bool reported = false;  // the outage under way was logged
  while (true) {
    const absl::Status ended = WatchSession();
    MutexLock lock(&mu_);
    const bool was_connected = connected_;
    connected_ = false;
    if (stopping_) return;
    // Fallen behind a compaction: list again at once; no outage.
    if (absl::IsAborted(ended)) continue;
    if (was_connected) {
      delay = kFirstDelay;
      reported = false;
    }
    if (!reported) {
      // Once per outage, not once per attempt.
      Log(LogLevel::kWarning,
          was_connected ? "fleet_etcd_lost" : "fleet_etcd_unreachable",
          "etcd cannot be reached: revocations made here are remembered and "
          "shared once it is back",
          {{"error", ended.message()}, {"replica", options_.replica_id}});
      reported = true;
    }
    mu_.AwaitWithDeadline(absl::Condition(&stopping_), absl::Now() + delay);
    if (stopping_) return;
    delay = std::min(delay * 2, options_.max_reconnect_delay);
  }
}

absl::Status EtcdRevocations::WatchSession() {
  int64_t listed = 0;
  if (absl::Status status = ListRevocations(&listed); !status.ok()) {
    return status;
  }
  grpc::ClientContext context;
  // Refused by a member that has lost its cluster's leader, rather than
  // left open and silent.
  context.AddMetadata("hasleader", "true");
  {
    MutexLock lock(&mu_);
    if (stopping_) return absl::OkStatus();
    watch_context_ = &context;
  }
  pb::WatchRequest request;
  pb::WatchCreateRequest* create = request.mutable_create_request();
  create->set_key(options_.prefix);
  create->set_range_end(RangeEnd(options_.prefix));
  create->set_start_revision(listed + 1);
  // On the callback API: this thread waits for a response outside gRPC's
  // poller (base/blocking_stream.h says why).
  auto stream = std::make_shared<
      BlockingBidiStream<pb::WatchRequest, pb::WatchResponse>>();
  watch_stub_->async()->Watch(&context, stream.get());
  stream->Start(std::move(request));
  pb::WatchResponse response;
  bool compacted = false;
  while (stream->Read(&response)) {
    // Fallen behind a compaction: list again. Cancelled: reconnect.
    if (response.compact_revision() > 0) {
      Log(LogLevel::kInfo, "fleet_watch_compacted",
          "the watch fell behind etcd's compaction: listing again",
          {{"replica", options_.replica_id},
           {"revision", listed},
           {"compact_revision", response.compact_revision()}});
      compacted = true;
      break;
    }
    if (response.canceled()) break;
    if (response.created()) {
      // Watching from `listed` on: this replica misses nothing from now.
      int replicas;
      {
        MutexLock lock(&mu_);
        connected_ = true;
        replicas = static_cast<int>(replicas_.size());
      }
      Log(LogLevel::kInfo, "fleet_etcd_connected",
          "listed the fleet's revocations and watching for more",
          {{"replica", options_.replica_id},
           {"revision", listed},
           {"replicas", replicas}});
      if (others_) others_(nullptr);
    }
    std::vector<std::pair<std::string, absl::Time>> revoked;
    int64_t last_revoked = 0;
    bool lost_registration = false;
    std::vector<const mvccpb::Event*> other_events;
    {
      MutexLock lock(&mu_);
      for (const mvccpb::Event& event : response.events()) {
        absl::string_view key = event.kv().key();
        const bool put = event.type() == mvccpb::Event::PUT;
        int64_t number = 0;
        if (absl::ConsumePrefix(&key, revoked_prefix_)) {
          if (put && absl::SimpleAtoi(event.kv().value(), &number)) {
            revoked.emplace_back(std::string(key),
                                 absl::FromUnixSeconds(number));
            last_revoked = event.kv().mod_revision();
          }
        } else if (absl::ConsumePrefix(&key, replicas_prefix_)) {
          if (!put) {
            replicas_.erase(key);
            if (key == options_.replica_id) lost_registration = true;
          } else if (absl::SimpleAtoi(event.kv().value(), &number)) {
            replicas_[key] = number;
          }
        } else {
          other_events.push_back(&event);
        }
      }
      // Our lease ran out (etcd lost us for longer than lease_ttl): the
      // worker registers again.
      if (lost_registration) lease_ = 0;
    }
    for (auto& [fingerprint, expires] : revoked) apply_(fingerprint, expires);
    if (others_) {
      for (const mvccpb::Event* event : other_events) others_(event);
    }
    if (last_revoked > 0) ReportApplied(last_revoked).IgnoreError();
  }
  {
    MutexLock lock(&mu_);
    watch_context_ = nullptr;
  }
  context.TryCancel();
  const grpc::Status finished = stream->Finish();
  if (compacted)
    return absl::AbortedError("the watch fell behind a compaction");
  return FromGrpc("watch", finished);
}

absl::Status EtcdRevocations::ListRevocations(int64_t* revision) {
  grpc::ClientContext context;
  Bound(&context);
  pb::RangeRequest request;
  request.set_key(options_.prefix);
  request.set_range_end(RangeEnd(options_.prefix));
  pb::RangeResponse response;
  if (absl::Status status =
          FromGrpc("list", kv_->Range(&context, request, &response));
      !status.ok()) {
    return status;
  }
  *revision = response.header().revision();
  const absl::Time now = clock_->Now();
  std::vector<std::pair<std::string, absl::Time>> revoked;
  {
    MutexLock lock(&mu_);
    replicas_.clear();
    for (const mvccpb::KeyValue& kv : response.kvs()) {
      absl::string_view key = kv.key();
      int64_t number = 0;
      if (!absl::SimpleAtoi(kv.value(), &number)) continue;
      if (absl::ConsumePrefix(&key, revoked_prefix_)) {
        const absl::Time expires = absl::FromUnixSeconds(number);
        if (expires > now) revoked.emplace_back(std::string(key), expires);
      } else if (absl::ConsumePrefix(&key, replicas_prefix_)) {
        replicas_[key] = number;
      }
    }
  }
  for (auto& [fingerprint, expires] : revoked) apply_(fingerprint, expires);
  return ReportApplied(*revision);
}

absl::Status EtcdRevocations::ReportApplied(int64_t revision) {
  // One write of this replica's key at a time (the watch thread's and the
  // worker's), so that the revision it holds never goes back.
  MutexLock report(&report_mu_);
  int64_t lease;
  {
    MutexLock lock(&mu_);
    applied_ = std::max(applied_, revision);
    revision = applied_;
    lease = lease_;
  }
  if (lease == 0) return absl::OkStatus();  // Register writes it
  grpc::ClientContext context;
  Bound(&context);
  pb::PutRequest request;
  request.set_key(absl::StrCat(replicas_prefix_, options_.replica_id));
  request.set_value(absl::StrCat(revision));
  request.set_lease(lease);
  pb::PutResponse response;
  const grpc::Status status = kv_->Put(&context, request, &response);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
    // "requested lease not found": it ran out.
    MutexLock lock(&mu_);
    if (lease_ == lease) lease_ = 0;
  }
  return FromGrpc("report", status);
}

// ---------------------------------------------------------------------------
// The worker thread.

absl::StatusOr<int64_t> EtcdRevocations::GrantLease(absl::Duration ttl) {
  grpc::ClientContext context;
  Bound(&context);
  pb::LeaseGrantRequest request;
  request.set_ttl(std::max<int64_t>(
      1, absl::ToInt64Seconds(absl::Ceil(ttl, absl::Seconds(1)))));
  pb::LeaseGrantResponse grant;
  if (absl::Status status =
          FromGrpc("lease", lease_stub_->LeaseGrant(&context, request, &grant));
      !status.ok()) {
    return status;
  }
  return grant.id();
}

absl::Status EtcdRevocations::Register() {
  absl::StatusOr<int64_t> lease = GrantLease(options_.lease_ttl);
  if (!lease.ok()) return lease.status();
  {
    MutexLock lock(&mu_);
    lease_ = *lease;
  }
  return ReportApplied(0);
}

absl::Status EtcdRevocations::KeepAlive(int64_t lease) {
  grpc::ClientContext context;
  Bound(&context);
  auto stream = lease_stub_->LeaseKeepAlive(&context);
  pb::LeaseKeepAliveRequest request;
  request.set_id(lease);
  pb::LeaseKeepAliveResponse response;
  const bool answered = stream->Write(request) && stream->Read(&response);
  stream->WritesDone();
  context.TryCancel();
  stream->Finish().IgnoreError();
  if (!answered) return absl::UnavailableError("etcd lease keep-alive failed");
  if (response.ttl() <= 0) {
    MutexLock lock(&mu_);
    if (lease_ == lease) lease_ = 0;
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> EtcdRevocations::Write(const Queued& revocation) {
  // The key lives as long as the token could be used.
  absl::StatusOr<int64_t> lease = GrantLease(
      std::max(revocation.expires - clock_->Now(), absl::Seconds(5)));
  if (!lease.ok()) return lease.status();
  grpc::ClientContext context;
  Bound(&context);
  pb::PutRequest request;
  request.set_key(absl::StrCat(revoked_prefix_, revocation.fingerprint));
  request.set_value(absl::StrCat(absl::ToUnixSeconds(revocation.expires)));
  request.set_lease(*lease);
  pb::PutResponse response;
  if (absl::Status status =
          FromGrpc("put", kv_->Put(&context, request, &response));
      !status.ok()) {
    return status;
  }
  return response.header().revision();
}

int EtcdRevocations::ConfirmedLocked(int64_t revision) const {
  int confirmed = 0;
  for (const auto& [id, applied] : replicas_) {
    if (applied >= revision) ++confirmed;
  }
  return confirmed;
}

std::deque<std::pair<EtcdRevocations::ShareCallback, RevocationReach>>
EtcdRevocations::TakeAnsweredLocked(absl::Time now, bool all) {
  std::deque<std::pair<ShareCallback, RevocationReach>> answered;
  const int live = static_cast<int>(replicas_.size());
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    const int confirmed = ConfirmedLocked(it->revision);
    if (all || now >= it->deadline || (live > 0 && confirmed == live)) {
      answered.emplace_back(std::move(it->done),
                            RevocationReach{true, confirmed, live});
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  return answered;
}

void EtcdRevocations::WorkLoop() {
  const absl::Duration keepalive_every = options_.lease_ttl / 3;
  absl::Time next_keepalive = absl::Now();
  absl::Time renewed = absl::Now();  // the lease, last
  absl::Time retry_unpublished = absl::InfinitePast();
  while (true) {
    std::deque<Queued> queued;
    bool stopping;
    int64_t lease;
    {
      MutexLock lock(&mu_);
      auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        if (stopping_ || !queue_.empty()) return true;
        if (connected_ && !unpublished_.empty() &&
            absl::Now() >= retry_unpublished) {
          return true;
        }
        const int live = static_cast<int>(replicas_.size());
        for (const Waiting& w : waiting_) {
          if (live > 0 && ConfirmedLocked(w.revision) == live) return true;
        }
        return false;
      };
      absl::Time wake = next_keepalive;
      for (const Waiting& w : waiting_) wake = std::min(wake, w.deadline);
      // (While disconnected, connecting wakes it: connected_ is in ready.)
      if (connected_ && !unpublished_.empty()) {
        wake = std::min(wake, retry_unpublished);
      }
      mu_.AwaitWithDeadline(absl::Condition(&ready), wake);
      stopping = stopping_;
      queued.swap(queue_);
      if (!stopping && connected_ && absl::Now() >= retry_unpublished) {
        for (auto& [fingerprint, expires] : unpublished_) {
          queued.push_back({fingerprint, expires, nullptr});
        }
        unpublished_.clear();
      }
      lease = lease_;
    }
    if (stopping) {
      std::deque<std::pair<ShareCallback, RevocationReach>> answered;
      {
        MutexLock lock(&mu_);
        answered = TakeAnsweredLocked(absl::Now(), /*all=*/true);
      }
      for (auto& [done, reach] : answered) std::move(done)(reach);
      for (Queued& q : queued) {
        if (q.done) std::move(q.done)(RevocationReach{false, 1, 1});
      }
      return;
    }

    std::vector<std::pair<ShareCallback, RevocationReach>> unsent;
    for (Queued& q : queued) {
      absl::StatusOr<int64_t> revision = Write(q);
      MutexLock lock(&mu_);
      if (revision.ok()) {
        if (q.done) {
          waiting_.push_back({*revision, absl::Now() + options_.confirm_timeout,
                              std::move(q.done)});
        }
        continue;
      }
      // Remembered, and sent again once etcd answers (a later expiry wins).
      absl::Time& expires = unpublished_[q.fingerprint];
      expires = std::max(expires, q.expires);
      retry_unpublished = absl::Now() + absl::Seconds(1);
      if (q.done) {
        const int live = std::max(1, static_cast<int>(replicas_.size()));
        unsent.emplace_back(std::move(q.done), RevocationReach{false, 1, live});
      }
    }
    for (auto& [done, reach] : unsent) std::move(done)(reach);

    if (absl::Now() >= next_keepalive) {
      next_keepalive = absl::Now() + keepalive_every;
      bool renewed_now = lease != 0 && KeepAlive(lease).ok();
      {
        MutexLock lock(&mu_);
        lease = lease_;
      }
      if (lease == 0) renewed_now = Register().ok();
      if (renewed_now) renewed = absl::Now();
      if (absl::Now() - renewed > options_.lease_ttl) {
        // The others count this replica gone (its lease has ended), while
        // its watch may look alive (a half-open connection): end the
        // watch, so that it is degraded until it has listed again.
        MutexLock lock(&mu_);
        if (watch_context_ != nullptr) watch_context_->TryCancel();
      }
    }

    std::deque<std::pair<ShareCallback, RevocationReach>> answered;
    {
      MutexLock lock(&mu_);
      answered = TakeAnsweredLocked(absl::Now(), /*all=*/false);
    }
    for (auto& [done, reach] : answered) std::move(done)(reach);
  }
}

}  // namespace tokenservice
