// EtcdRevocations: the fleet's revocations, shared through etcd, with a
// confirmation that every live replica has applied each one.
//
// Under the prefix (--etcd_prefix):
//
//   revoked/<fingerprint>  the token's expiry (Unix seconds), on a lease
//                          that ends then, so etcd forgets it with the token
//   replicas/<replica id>  the etcd revision up to which this replica has
//                          applied revocations, on a lease of `lease_ttl`
//                          kept alive while the replica lives
//
// Every replica lists revoked/ when it (re)connects and then watches the
// prefix from the revision it listed at, so a replica that was away misses
// nothing; a watch that fell behind a compaction lists again (the informer
// pattern). Each revocation seen is handed to `apply` (which evicts the
// token and lists it); the replica then writes, under replicas/, the
// revision of the last revocation it applied.
//
// Share writes revoked/<fingerprint> at revision R and answers once every
// replica under replicas/ (the live ones: a dead replica's lease ends) has
// applied R, or `confirm_timeout` passed: the answer says how many of how
// many confirmed, so "OK" from a Revoke can mean "revoked everywhere".
// While etcd is unreachable, Share answers at once (confirmed only
// here) and the revocation is remembered and written when etcd is back.
//
// Fingerprints are no secret (they are in logs); no token value is written.

#ifndef SERVER_FLEET_ETCD_REVOCATIONS_H_
#define SERVER_FLEET_ETCD_REVOCATIONS_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/mutex.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "server/broker/shared_revocations.h"

namespace tokenservice {

struct EtcdRevocationsOptions {
  // Every key is under it; replicas of one fleet share it.
  std::string prefix = "/tokenservice/";
  // This replica's name under replicas/; unique in the fleet.
  std::string replica_id;
  // How long a replica that stopped renewing (died, or lost etcd) still
  // counts as live.
  absl::Duration lease_ttl = absl::Seconds(10);
  // The longest Share waits for the other replicas to confirm.
  absl::Duration confirm_timeout = absl::Seconds(2);
  // Each call to etcd.
  absl::Duration rpc_timeout = absl::Seconds(2);
  // The longest wait before reconnecting after etcd went away.
  absl::Duration max_reconnect_delay = absl::Seconds(2);
};

// Thread-safe. Runs two threads of its own once started: the watch, and a
// worker that writes, renews the lease and answers Share.
class EtcdRevocations final : public SharedRevocations {
 public:
  // Called on the watch thread for every revocation seen, this replica's
  // own included, and those listed at start; must not block on etcd.
  using ApplyFn = absl::AnyInvocable<void(absl::string_view fingerprint,
                                          absl::Time expires)>;
  // Called on the watch thread for every event under the prefix outside
  // revoked/ and replicas/ (the fleet's other state: EtcdTokens), and with
  // null each time the watch (re)starts, after which events missed while
  // it was down are not replayed; must not block on etcd.
  using EventFn = absl::AnyInvocable<void(const mvccpb::Event* event)>;
  // Talks to etcd through `channel` (its credentials decide TLS and client
  // certificates) once started.
  EtcdRevocations(std::shared_ptr<grpc::Channel> channel,
                  EtcdRevocationsOptions options, const Clock* clock);
  // Stops both threads and ends this replica's lease, so that Share on the
  // others no longer waits for it. Pending Share calls are answered.
  ~EtcdRevocations() override;

  // Stops both threads, answers pending Share calls and leaves the fleet;
  // later Share calls are answered at once (published false). Idempotent;
  // from the owner's thread.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // Starts the threads, handing every revocation seen to `apply`. Returns
  // at once: while etcd cannot be reached the replica keeps trying, and
  // connected() is false. Call once. `others`, when set, is told of the
  // prefix's other events (see EventFn).
  void Start(ApplyFn apply, EventFn others = nullptr) ABSL_LOCKS_EXCLUDED(mu_);

  // Shares the revocation of `fingerprint` (a token that expires at
  // `expires`) and calls `done` once: on the worker thread when every
  // live replica applied it or after confirm_timeout (or rpc_timeout, when
  // the write fails); at once, on this thread, when this replica is not
  // connected to etcd (published false; it is written once etcd is back)
  // or has stopped.
  void Share(absl::string_view fingerprint, absl::Time expires,
             ShareCallback done) override ABSL_LOCKS_EXCLUDED(mu_);

  // True once this replica has listed the revocations and watches them;
  // false while etcd is unreachable (the fleet is degraded).
  bool connected() const ABSL_LOCKS_EXCLUDED(mu_);

  // Replicas registered under replicas/ as last seen (this one included).
  int live_replicas() const ABSL_LOCKS_EXCLUDED(mu_);

  // Waits until this replica is connected() and sees exactly `replicas`
  // live ones, or `deadline`; true if it does. For start-up and tests.
  bool AwaitReplicas(int replicas, absl::Time deadline) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Revocations made here that etcd has not received yet.
  size_t unpublished() const ABSL_LOCKS_EXCLUDED(mu_);

  SharingHealth Health() const override ABSL_LOCKS_EXCLUDED(mu_);

  // This replica's lease (its session: keys on it end with the replica),
  // kept alive while it lives; 0 while it has none.
  int64_t lease() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Waiting {
    int64_t revision;
    absl::Time deadline;
    ShareCallback done;
  };
  struct Queued {
    std::string fingerprint;
    absl::Time expires;
    ShareCallback done;  // null for a remembered one being re-sent
  };

  void WatchLoop();
  // One session: register, list, watch until the stream ends. OK only
  // when asked to stop.
  absl::Status WatchSession();
  // A new lease of `ttl` (rounded up to whole seconds); its id.
  absl::StatusOr<int64_t> GrantLease(absl::Duration ttl);
  absl::Status Register() ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status ListRevocations(int64_t* revision) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status ReportApplied(int64_t revision) ABSL_LOCKS_EXCLUDED(mu_);
  void WorkLoop();
  // Writes one revocation; its revision.
  absl::StatusOr<int64_t> Write(const Queued& revocation);
  absl::Status KeepAlive(int64_t lease);
  // Answers every Waiting that is confirmed or timed out at `now`.
  std::deque<std::pair<ShareCallback, RevocationReach>> TakeAnsweredLocked(
      absl::Time now, bool all) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int ConfirmedLocked(int64_t revision) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Bound(grpc::ClientContext* context) const;

  const EtcdRevocationsOptions options_;
  const std::string revoked_prefix_;
  const std::string replicas_prefix_;
  ApplyFn apply_;   // the watch thread's only
  EventFn others_;  // the watch thread's only
  const Clock* const clock_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease_stub_;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch_stub_;

  // Held across each write of this replica's own key; taken before mu_.
  Mutex report_mu_;
  mutable Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* watch_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  // This replica's lease; 0 when it has none (or lost it).
  int64_t lease_ ABSL_GUARDED_BY(mu_) = 0;
  // The revision up to which this replica has applied revocations.
  int64_t applied_ ABSL_GUARDED_BY(mu_) = 0;
  // Replica id -> the revision it has applied, as the watch last saw.
  absl::flat_hash_map<std::string, int64_t> replicas_ ABSL_GUARDED_BY(mu_);
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<Waiting> waiting_ ABSL_GUARDED_BY(mu_);
  // Fingerprint -> expiry: revoked here while etcd was unreachable.
  absl::flat_hash_map<std::string, absl::Time> unpublished_
      ABSL_GUARDED_BY(mu_);

  std::thread watch_thread_;
  std::thread work_thread_;
};

}  // namespace tokenservice

#endif  // SERVER_FLEET_ETCD_REVOCATIONS_H_
