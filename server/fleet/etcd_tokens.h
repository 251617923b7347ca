// EtcdTokens: the fleet's tokens, one per key, shared through etcd, so that
// the whole fleet asks myPOS once where each replica used to ask once.
//
// Under the prefix (--etcd_prefix), for each cache key (a profile and a
// scope set) with the name N, the first 32 hex digits of SHA-256 of the
// client id and the cache key (so no key name shows a client id or a
// profile):
//
//   tokens/N        the newest token, sealed (server/fleet/sealed_value.h),
//                   on a lease that ends when the token expires
//   locks/N         held by the replica fetching N's token; its value is
//                   the replica id, on that replica's session lease
//                   (EtcdRevocations::lease), so it ends with the replica
//   fingerprints/F  the token with fingerprint F, sealed for this key name,
//                   on the token's lease (Revoke by fingerprint on a
//                   replica that never held it, also once tokens/N holds
//                   a newer token)
//
// Fetch is etcd's lock recipe (clientv3's concurrency.Mutex) with the
// token as the guarded state:
//
//   1. Read tokens/N; a token there that the broker's `acceptable` takes
//      is the answer, without myPOS.
//   2. Otherwise create locks/N if it does not exist and tokens/N is still
//      what step 1 read (a transaction). The replica that created it makes
//      the one request to myPOS and commits the token with a transaction
//      that succeeds only while locks/N still has the create revision it
//      got (its fencing token): a holder whose session ended mid-fetch,
//      and whose lock another replica has since taken, cannot overwrite a
//      newer token. The same transaction deletes the lock; then its own
//      callers are answered (a token handed out is one every replica can
//      find, by fingerprint too).
//   3. A replica that did not get the lock waits, through the fleet's one
//      watch, for tokens/N or locks/N to change after the revision at
//      which it looked, and then starts again at 1. It waits at most
//      `lock_wait` in all; then, or whenever etcd cannot be asked, it asks
//      myPOS itself (one flight per replica: the broker's).
//
// A holder whose commit etcd did not answer (etcd went away) tries it
// again when the watch is back, so the token lands and the lock is
// released once etcd is. A retry that finds the lock gone and its own
// value in tokens/N knows the earlier try landed. A commit whose compare
// failed revokes the lease it took for the token; one whose transaction
// failed outright leaves its lease to end with its TTL (it may have been
// applied, and then the lease holds the token).
//
// A lock holder that crashes is noticed when its session lease ends
// (--fleet lease, 10 s) and one that stops cleanly at once (its lease is
// revoked); the waiters then take the lock in turn, not all at once.
//
// The keyring is read again from --fleet_keys_dir at most every
// `keys_reload_interval` when used (and at once when a value names a key
// id it lacks), so a key rotation needs no restart.

#ifndef SERVER_FLEET_ETCD_TOKENS_H_
#define SERVER_FLEET_ETCD_TOKENS_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/mutex.h"
#include "base/timers.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "server/broker/shared_tokens.h"
#include "server/fleet/etcd_revocations.h"
#include "server/fleet/fleet_keyring.h"

namespace tokenservice {

struct EtcdTokensOptions {
  // As EtcdRevocationsOptions: shared by the replicas of one fleet.
  std::string prefix = "/tokenservice/";
  std::string replica_id;
  // --fleet_keys_dir.
  std::string keys_dir;
  absl::Duration keys_reload_interval = absl::Seconds(10);
  // Each call to etcd.
  absl::Duration rpc_timeout = absl::Seconds(2);
  // How soon a commit etcd did not answer is tried again (also whenever
  // the watch restarts).
  absl::Duration commit_retry = absl::Seconds(1);
  // The longest a fetch waits for other replicas' fetches of its key
  // before it asks myPOS itself: above the upstream timeout, so that a
  // holder that is merely slow is waited for.
  absl::Duration lock_wait = absl::Seconds(15);
};

// The keys a replica has loaded, for its metrics.
struct LoadedKeys {
  std::vector<std::string> ids;  // sorted
  std::string active;
};

// Thread-safe. Borrows every pointer; each must outlive it, and `timers`
// must have run or dropped every task it was given (wait bounds, commit
// retries) before it is destroyed. `session` must be started with OnEvent
// as its EventFn.
class EtcdTokens final : public SharedTokens {
 public:
  EtcdTokens(std::shared_ptr<grpc::Channel> channel, EtcdTokensOptions options,
             FleetKeyring keyring, const EtcdRevocations* session,
             Timers* timers, const Clock* clock);
  ~EtcdTokens() override;

  // Fetches go to myPOS from now on; the ones waiting for other replicas
  // do so at once. Returns once no call to etcd is under way (a commit
  // begun is finished first), so nothing of this replica's writes to etcd
  // after it; a fetch still at myPOS then answers its callers without
  // writing, and its lock ends with the session. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  void Fetch(const CredentialProfile& profile, const std::string& key,
             Acceptable acceptable, UpstreamFetch fetch,
             TokenDone done) override ABSL_LOCKS_EXCLUDED(mu_);

  void Find(absl::string_view fingerprint, FindDone done) override
      ABSL_LOCKS_EXCLUDED(mu_);

  // The session's events (EtcdRevocations::EventFn).
  void OnEvent(const mvccpb::Event* event) ABSL_LOCKS_EXCLUDED(mu_);

  // Fetches here waiting for another replica's fetch of their key.
  int waiting() const ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until waiting() is `n`, or `deadline`; true if it is. For tests.
  bool AwaitWaiting(int n, absl::Time deadline) const ABSL_LOCKS_EXCLUDED(mu_);

  // The keyring as loaded now (read again first when it is due).
  LoadedKeys loaded_keys() ABSL_LOCKS_EXCLUDED(mu_);

  // The etcd key name of a cache key (tokens/, locks/ without the prefix):
  // for tests that look at what etcd holds.
  static std::string KeyName(absl::string_view client_id,
                             absl::string_view cache_key);

 private:
  struct Attempt;
  using AttemptPtr = std::shared_ptr<Attempt>;
  // A fetched token to write and a lock to release, kept until etcd
  // answered.
  struct PendingCommit {
    std::string name;
    std::string profile;
    int64_t lock_revision = 0;
    std::string sealed;        // empty: release the lock only
    std::string sealed_index;  // the same token, for fingerprints/F
    std::string fingerprint;
    absl::Time expires;
    // The lease an earlier try was granted, for every later try: a try
    // whose Txn failed may have been applied, so its lease may hold the
    // token and is neither revoked nor replaced. 0: none yet.
    int64_t lease = 0;
    // Answers the fetch's callers, on the first try only.
    std::function<void()> then;
  };

  // The keyring, read again when due or when `force`d.
  std::shared_ptr<const FleetKeyring> Keyring(bool force = false)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The token in a tokens/ value; errors say why it cannot be read.
  absl::StatusOr<CachedToken> Open(const std::string& etcd_key,
                                   const std::string& value);

  // The steps of a Fetch (see the file comment).
  void Read(AttemptPtr attempt) ABSL_LOCKS_EXCLUDED(mu_);
  // Takes the token in `kvs` (tokens/N as read) if acceptable, else
  // tries the lock.
  void Consider(AttemptPtr attempt,
                const google::protobuf::RepeatedPtrField<mvccpb::KeyValue>& kvs)
      ABSL_LOCKS_EXCLUDED(mu_);
  void TryLock(AttemptPtr attempt) ABSL_LOCKS_EXCLUDED(mu_);
  void Wait(AttemptPtr attempt, int64_t after) ABSL_LOCKS_EXCLUDED(mu_);
  void FetchUpstream(AttemptPtr attempt, int64_t lock_revision)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Writes the token and releases the lock, then answers `attempt`'s
  // callers; runs on one call counted by the caller (BeginCall), which it
  // ends.
  void Commit(AttemptPtr attempt, int64_t lock_revision,
              absl::StatusOr<ExchangedToken> fetched) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs `commit` on one call counted by the caller, which it ends; one
  // etcd did not answer is remembered.
  void RunCommit(PendingCommit commit) ABSL_LOCKS_EXCLUDED(mu_);
  void Remember(PendingCommit commit) ABSL_LOCKS_EXCLUDED(mu_);
  // Revokes a lease granted for a commit that did not use it, on a call
  // of its own; called only inside a counted call (so even when stopping:
  // Stop waits for it too).
  void RevokeUnusedLease(int64_t lease) ABSL_LOCKS_EXCLUDED(mu_);
  void RetryUnfinished() ABSL_LOCKS_EXCLUDED(mu_);
  // Takes `attempt` out of attempts_ and cancels its wait bound.
  void DoneLocked(const AttemptPtr& attempt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends `attempt`: with `token` (from etcd), or by asking myPOS here.
  void Finish(AttemptPtr attempt, CachedToken token) ABSL_LOCKS_EXCLUDED(mu_);
  void FetchHere(AttemptPtr attempt) ABSL_LOCKS_EXCLUDED(mu_);

  int WaitingLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts a call to etcd about to start; false (and nothing counted)
  // once stopping.
  bool BeginCall() ABSL_LOCKS_EXCLUDED(mu_);
  void EndCall() ABSL_LOCKS_EXCLUDED(mu_);
  void Bound(grpc::ClientContext* context) const;

  const EtcdTokensOptions options_;
  const std::string tokens_prefix_;
  const std::string locks_prefix_;
  const std::string fingerprints_prefix_;
  const EtcdRevocations* const session_;
  Timers* const timers_;
  const Clock* const clock_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease_stub_;

  mutable Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;  // to etcd, under way
  std::shared_ptr<const FleetKeyring> keyring_ ABSL_GUARDED_BY(mu_);
  absl::Time next_reload_ ABSL_GUARDED_BY(mu_);
  // Name -> the fetches of that key in progress here.
  absl::flat_hash_map<std::string, absl::flat_hash_set<AttemptPtr>> attempts_
      ABSL_GUARDED_BY(mu_);
  // Commits etcd did not answer, tried again when the watch restarts.
  std::vector<PendingCommit> unfinished_ ABSL_GUARDED_BY(mu_);
  bool retry_scheduled_ ABSL_GUARDED_BY(mu_) = false;
  // Counts the watch's restarts: a fetch that read before one reads again
  // rather than wait for events the watch may have missed.
  uint64_t epoch_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tokenservice

#endif  // SERVER_FLEET_ETCD_TOKENS_H_
