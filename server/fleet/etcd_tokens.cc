#include "server/fleet/etcd_tokens.h"

#include <openssl/sha.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "proto/fleet_token.pb.h"
#include "server/fleet/sealed_value.h"
#include "server/ops/log.h"

namespace tokenservice {

namespace pb = ::etcdserverpb;

// One Fetch on its way through the steps. `phase`, `wait_after`, `seen`,
// `epoch` and `timer` are guarded by the owner's mu_; the rest is written
// before the attempt is shared and then read only by the step that runs.
struct EtcdTokens::Attempt {
  enum class Phase { kBusy, kWaiting, kDone };

  CredentialProfile profile;
  std::string key;        // the cache key
  std::string name;       // its etcd name
  std::string client_id;  // as read when the fetch began
  Acceptable acceptable;
  UpstreamFetch fetch;
  TokenDone done;
  absl::Time give_up;  // waits for others end here

  Phase phase = Phase::kBusy;
  int64_t read_mod = 0;    // tokens/N's mod revision last read; 0: none
  uint64_t epoch = 0;      // the watch's restarts when it last read
  int64_t wait_after = 0;  // while kWaiting: the revision looked at
  int64_t seen = 0;        // the newest event of `name` seen
  std::optional<TimerId> timer;
};

namespace {

// One unary call to etcd, kept alive until its callback ran.
template <typename Request, typename Response>
struct Call {
  grpc::ClientContext context;
  Request request;
  Response response;
};

absl::Time FromNanos(int64_t nanos) { return absl::FromUnixNanos(nanos); }

std::string Serialize(const CachedToken& token) {
  mypos::token::internal::FleetToken out;
  out.set_credential(token.credential);
  out.set_client_id(token.client_id);
  out.set_access_token(token.access_token);
  out.set_token_type(token.token_type);
  out.set_fingerprint(token.fingerprint);
  for (const std::string& scope : token.scopes) out.add_scopes(scope);
  out.set_issue_time(absl::ToUnixNanos(token.issue_time));
  out.set_expire_time(absl::ToUnixNanos(token.expire_time));
  out.set_upstream_latency(absl::ToInt64Nanoseconds(token.upstream_latency));
  return out.SerializeAsString();
}

// Whether a commit's Txn whose compare failed found an earlier try of the
// commit applied: its failure branch reads tokens/N and fingerprints/F,
// and one of them holds the commit's own sealed value.
bool LandedBefore(const pb::TxnResponse& response, absl::string_view sealed,
                  absl::string_view sealed_index) {
  auto holds = [&response](int i, absl::string_view value) {
    return response.responses_size() > i &&
           response.responses(i).response_range().kvs_size() == 1 &&
           response.responses(i).response_range().kvs(0).value() == value;
  };
  return holds(0, sealed) || holds(1, sealed_index);
}

}  // namespace

EtcdTokens::EtcdTokens(std::shared_ptr<grpc::Channel> channel,
                       EtcdTokensOptions options, FleetKeyring keyring,
                       const EtcdRevocations* session, Timers* timers,
                       const Clock* clock)
    : options_(std::move(options)),
      tokens_prefix_(absl::StrCat(options_.prefix, "tokens/")),
      locks_prefix_(absl::StrCat(options_.prefix, "locks/")),
      fingerprints_prefix_(absl::StrCat(options_.prefix, "fingerprints/")),
      session_(session),
      timers_(timers),
      clock_(clock),
      kv_(pb::KV::NewStub(channel)),
      lease_stub_(pb::Lease::NewStub(channel)),
      keyring_(std::make_shared<const FleetKeyring>(std::move(keyring))),
      next_reload_(clock->Now() + options_.keys_reload_interval) {}

EtcdTokens::~EtcdTokens() { Stop(); }

std::string EtcdTokens::KeyName(absl::string_view client_id,
                                absl::string_view cache_key) {
  const std::string input =
      absl::StrCat(client_id, absl::string_view("\0", 1), cache_key);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
         digest);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), 16));
}

void EtcdTokens::Bound(grpc::ClientContext* context) const {
  context->set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
}

bool EtcdTokens::BeginCall() {
  MutexLock lock(&mu_);
  if (stopping_) return false;
  ++calls_;
  return true;
}

void EtcdTokens::EndCall() {
  MutexLock lock(&mu_);
  --calls_;
}

void EtcdTokens::Stop() {
  std::vector<AttemptPtr> waiting;
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& [name, attempts] : attempts_) {
      for (const AttemptPtr& attempt : attempts) {
        if (attempt->phase != Attempt::Phase::kWaiting) continue;
        attempt->phase = Attempt::Phase::kBusy;
        if (attempt->timer.has_value()) timers_->Cancel(*attempt->timer);
        waiting.push_back(attempt);
      }
    }
  }
  for (AttemptPtr& attempt : waiting) FetchHere(std::move(attempt));
  MutexLock lock(&mu_);
  auto idle = [this]()
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_ == 0; };
  mu_.Await(absl::Condition(&idle));
}

std::shared_ptr<const FleetKeyring> EtcdTokens::Keyring(bool force) {
  {
    MutexLock lock(&mu_);
    if (!force && clock_->Now() < next_reload_) return keyring_;
    next_reload_ = clock_->Now() + options_.keys_reload_interval;
  }
  // Read without the lock (it is file I/O); a concurrent reload may win.
  absl::StatusOr<FleetKeyring> loaded = FleetKeyring::Load(options_.keys_dir);
  MutexLock lock(&mu_);
  if (!loaded.ok()) {
    Log(LogLevel::kWarning, "fleet_keys_unreadable",
        "--fleet_keys_dir cannot be read: the keys loaded before stay in use",
        {{"error", loaded.status().message()}});
    return keyring_;
  }
  if (loaded->ids() != keyring_->ids() ||
      loaded->active_id() != keyring_->active_id()) {
    Log(LogLevel::kInfo, "fleet_keys_loaded",
        "read the fleet's keys again from --fleet_keys_dir",
        {{"keys", absl::StrJoin(loaded->ids(), ",")},
         {"active", loaded->active_id()}});
  }
  keyring_ = std::make_shared<const FleetKeyring>(*std::move(loaded));
  return keyring_;
}

void EtcdTokens::DoneLocked(const AttemptPtr& attempt) {
  auto it = attempts_.find(attempt->name);
  if (it != attempts_.end()) {
    it->second.erase(attempt);
    if (it->second.empty()) attempts_.erase(it);
  }
  attempt->phase = Attempt::Phase::kDone;
  // Its wait bound holds this object and the attempt: dropped now.
  if (attempt->timer.has_value()) {
    timers_->Cancel(*attempt->timer);
    attempt->timer.reset();
  }
}

int EtcdTokens::WaitingLocked() const {
  int n = 0;
  for (const auto& [name, attempts] : attempts_) {
    for (const AttemptPtr& attempt : attempts) {
      if (attempt->phase == Attempt::Phase::kWaiting) ++n;
    }
  }
  return n;
}

int EtcdTokens::waiting() const {
  MutexLock lock(&mu_);
  return WaitingLocked();
}

bool EtcdTokens::AwaitWaiting(int n, absl::Time deadline) const {
  MutexLock lock(&mu_);
  auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return WaitingLocked() == n;
  };
  return mu_.AwaitWithDeadline(absl::Condition(&reached), deadline);
}

LoadedKeys EtcdTokens::loaded_keys() {
  std::shared_ptr<const FleetKeyring> keyring = Keyring();
  return LoadedKeys{keyring->ids(), keyring->active_id()};
}

absl::StatusOr<CachedToken> EtcdTokens::Open(const std::string& etcd_key,
                                             const std::string& value) {
  absl::StatusOr<std::string> plain = Unseal(*Keyring(), etcd_key, value);
  if (absl::IsFailedPrecondition(plain.status())) {
    // A key id this replica has not loaded: a rotation under way.
    plain = Unseal(*Keyring(/*force=*/true), etcd_key, value);
  }
  if (!plain.ok()) return plain.status();
  mypos::token::internal::FleetToken in;
  if (!in.ParseFromString(*plain)) {
    return absl::DataLossError(absl::StrCat("the token under etcd key \"",
                                            absl::CHexEscape(etcd_key),
                                            "\" does not parse"));
  }
  CachedToken token;
  token.credential = in.credential();
  token.client_id = in.client_id();
  token.access_token = in.access_token();
  token.token_type = in.token_type();
  token.fingerprint = in.fingerprint();
  token.scopes.assign(in.scopes().begin(), in.scopes().end());
  token.issue_time = FromNanos(in.issue_time());
  token.expire_time = FromNanos(in.expire_time());
  token.upstream_latency = absl::Nanoseconds(in.upstream_latency());
  return token;
}

void EtcdTokens::Fetch(const CredentialProfile& profile, const std::string& key,
                       Acceptable acceptable, UpstreamFetch fetch,
                       TokenDone done) {
  auto attempt = std::make_shared<Attempt>();
  attempt->profile = profile;
  attempt->key = key;
  attempt->acceptable = std::move(acceptable);
  attempt->fetch = std::move(fetch);
  attempt->done = std::move(done);
  // Unreadable credentials: myPOS is not asked, and the fetch says why.
  absl::StatusOr<ClientCredentials> credentials =
      CredentialStore::Load(profile);
  if (!credentials.ok() || !session_->connected() || session_->lease() == 0) {
    FetchHere(std::move(attempt));
    return;
  }
  attempt->client_id = credentials->client_id;
  attempt->name = KeyName(credentials->client_id, key);
  attempt->give_up = clock_->Now() + options_.lock_wait;
  {
    MutexLock lock(&mu_);
    if (!stopping_) attempts_[attempt->name].insert(attempt);
  }
  Read(std::move(attempt));
}

void EtcdTokens::Read(AttemptPtr attempt) {
  if (!BeginCall()) {
    FetchHere(std::move(attempt));
    return;
  }
  {
    MutexLock lock(&mu_);
    attempt->epoch = epoch_;
  }
  auto call = std::make_shared<Call<pb::RangeRequest, pb::RangeResponse>>();
  Bound(&call->context);
  call->request.set_key(tokens_prefix_ + attempt->name);
  kv_->async()->Range(&call->context, &call->request, &call->response,
                      [this, attempt, call](grpc::Status status) mutable {
                        if (status.ok()) {
                          Consider(std::move(attempt), call->response.kvs());
                        } else {
                          FetchHere(std::move(attempt));
                        }
                        EndCall();
                      });
}

void EtcdTokens::Consider(
    AttemptPtr attempt,
    const google::protobuf::RepeatedPtrField<mvccpb::KeyValue>& kvs) {
  if (kvs.empty()) {
    attempt->read_mod = 0;
    TryLock(std::move(attempt));
    return;
  }
  const mvccpb::KeyValue& kv = kvs[0];
  attempt->read_mod = kv.mod_revision();
  absl::StatusOr<CachedToken> token = Open(kv.key(), kv.value());
  if (!token.ok()) {
    Log(LogLevel::kWarning, "fleet_token_unreadable",
        "a token in etcd cannot be opened with the keys loaded here; "
        "fetching a new one",
        {{"error", token.status().message()}});
  }
  if (token.ok() && token->client_id == attempt->client_id &&
      token->credential == attempt->profile.name &&
      attempt->acceptable(*token)) {
    Finish(std::move(attempt), *std::move(token));
  } else {
    TryLock(std::move(attempt));
  }
}

void EtcdTokens::TryLock(AttemptPtr attempt) {
  const int64_t lease = session_->lease();
  if (lease == 0 || !BeginCall()) {
    FetchHere(std::move(attempt));
    return;
  }
  auto call = std::make_shared<Call<pb::TxnRequest, pb::TxnResponse>>();
  Bound(&call->context);
  const std::string lock_key = locks_prefix_ + attempt->name;
  pb::Compare* free = call->request.add_compare();
  free->set_key(lock_key);
  free->set_target(pb::Compare::CREATE);
  free->set_result(pb::Compare::EQUAL);
  free->set_create_revision(0);
  // Only if the token is still the one we read: one committed between
  // our read and now (and its lock released) is taken, not fetched again.
  const std::string token_key = tokens_prefix_ + attempt->name;
  pb::Compare* unchanged = call->request.add_compare();
  unchanged->set_key(token_key);
  unchanged->set_target(pb::Compare::MOD);
  unchanged->set_result(pb::Compare::EQUAL);
  unchanged->set_mod_revision(attempt->read_mod);
  pb::PutRequest* take = call->request.add_success()->mutable_request_put();
  take->set_key(lock_key);
  take->set_value(options_.replica_id);
  take->set_lease(lease);
  call->request.add_failure()->mutable_request_range()->set_key(token_key);
  kv_->async()->Txn(
      &call->context, &call->request, &call->response,
      [this, attempt, call](grpc::Status status) mutable {
        const int64_t revision = call->response.header().revision();
        if (!status.ok()) {
          FetchHere(std::move(attempt));
        } else if (call->response.succeeded()) {
          // The lock's create revision: our fencing token.
          FetchUpstream(std::move(attempt), revision);
        } else {
          const auto& kvs = call->response.responses(0).response_range().kvs();
          const int64_t mod = kvs.empty() ? 0 : kvs[0].mod_revision();
          if (mod != attempt->read_mod) {
            Consider(std::move(attempt), kvs);  // a new token meanwhile
          } else {
            Wait(std::move(attempt), revision);  // another replica fetches
          }
        }
        EndCall();
      });
}

void EtcdTokens::Wait(AttemptPtr attempt, int64_t after) {
  bool here = false;
  bool again = false;
  {
    MutexLock lock(&mu_);
    if (stopping_ || clock_->Now() >= attempt->give_up) {
      here = true;
    } else if (attempt->seen > after || attempt->epoch != epoch_) {
      // The holder finished while we asked, or the watch restarted since
      // we read (what it missed is not replayed): read again.
      again = true;
    } else {
      attempt->phase = Attempt::Phase::kWaiting;
      attempt->wait_after = after;
      if (!attempt->timer.has_value()) {
        attempt->timer = timers_->RunAt(attempt->give_up, [this, attempt] {
          {
            MutexLock lock(&mu_);
            if (attempt->phase != Attempt::Phase::kWaiting) return;
            attempt->phase = Attempt::Phase::kBusy;
          }
          Log(LogLevel::kWarning, "fleet_fetch_wait_timeout",
              "another replica's fetch of this token took too long: asking "
              "myPOS here",
              {{"profile", attempt->profile.name}});
          FetchHere(attempt);
        });
      }
    }
  }
  if (here) {
    FetchHere(std::move(attempt));
  } else if (again) {
    Read(std::move(attempt));
  }
}

void EtcdTokens::OnEvent(const mvccpb::Event* event) {
  std::vector<AttemptPtr> wake;
  std::vector<PendingCommit> retry;
  {
    MutexLock lock(&mu_);
    if (event == nullptr) {
      ++epoch_;
      retry.swap(unfinished_);
      // The watch restarted: what it missed is not replayed, so every
      // waiting fetch looks again.
      for (auto& [name, attempts] : attempts_) {
        for (const AttemptPtr& attempt : attempts) {
          if (attempt->phase != Attempt::Phase::kWaiting) continue;
          attempt->phase = Attempt::Phase::kBusy;
          wake.push_back(attempt);
        }
      }
    } else {
      absl::string_view key = event->kv().key();
      const bool token = absl::ConsumePrefix(&key, tokens_prefix_);
      const bool released = !token && event->type() == mvccpb::Event::DELETE &&
                            absl::ConsumePrefix(&key, locks_prefix_);
      auto it = attempts_.find(key);
      if ((token || released) && it != attempts_.end()) {
        const int64_t revision = event->kv().mod_revision();
        for (const AttemptPtr& attempt : it->second) {
          attempt->seen = std::max(attempt->seen, revision);
          if (attempt->phase == Attempt::Phase::kWaiting &&
              revision > attempt->wait_after) {
            attempt->phase = Attempt::Phase::kBusy;
            wake.push_back(attempt);
          }
        }
      }
    }
  }
  for (PendingCommit& commit : retry) {
    if (BeginCall()) RunCommit(std::move(commit));
  }
  for (AttemptPtr& attempt : wake) Read(std::move(attempt));
}

void EtcdTokens::FetchUpstream(AttemptPtr attempt, int64_t lock_revision) {
  {
    MutexLock lock(&mu_);
    DoneLocked(attempt);
  }
  std::move(attempt->fetch)(
      [this, attempt,
       lock_revision](absl::StatusOr<ExchangedToken> fetched) mutable {
        if (!BeginCall()) {  // stopping
          std::move(attempt->done)(std::move(fetched));
          return;
        }
        Commit(std::move(attempt), lock_revision, std::move(fetched));
      });
}

void EtcdTokens::Commit(AttemptPtr attempt, int64_t lock_revision,
                        absl::StatusOr<ExchangedToken> fetched) {
  PendingCommit commit;
  commit.name = attempt->name;
  commit.profile = attempt->profile.name;
  commit.lock_revision = lock_revision;
  if (fetched.ok()) {
    const std::shared_ptr<const FleetKeyring> keyring = Keyring();
    const std::string plaintext = Serialize(fetched->token);
    absl::StatusOr<std::string> value =
        Seal(*keyring, tokens_prefix_ + attempt->name, plaintext);
    // The index holds the token too, sealed for its own key name, so that
    // Find opens it after tokens/N has moved on to a newer token.
    absl::StatusOr<std::string> indexed = Seal(
        *keyring, fingerprints_prefix_ + fetched->token.fingerprint, plaintext);
    if (value.ok() && indexed.ok()) {
      commit.sealed = *std::move(value);
      commit.sealed_index = *std::move(indexed);
      commit.fingerprint = fetched->token.fingerprint;
      commit.expires = fetched->token.expire_time;
    }
  }
  // Our callers are answered once the token is in etcd (or etcd did not
  // answer): a token handed out is then one any replica can find.
  auto answer = std::make_shared<TokenDone>(std::move(attempt->done));
  auto result =
      std::make_shared<absl::StatusOr<ExchangedToken>>(std::move(fetched));
  commit.then = [answer, result] { std::move (*answer)(std::move(*result)); };
  RunCommit(std::move(commit));
}

void EtcdTokens::RunCommit(PendingCommit commit) {
  // Without a token: only the lock is released. `reused`: the lease is an
  // earlier try's.
  auto write = [this](PendingCommit commit, int64_t lease, bool reused) {
    auto call = std::make_shared<Call<pb::TxnRequest, pb::TxnResponse>>();
    Bound(&call->context);
    const std::string lock_key = locks_prefix_ + commit.name;
    pb::Compare* ours = call->request.add_compare();
    ours->set_key(lock_key);
    ours->set_target(pb::Compare::CREATE);
    ours->set_result(pb::Compare::EQUAL);
    ours->set_create_revision(commit.lock_revision);
    if (lease != 0) {
      pb::PutRequest* put = call->request.add_success()->mutable_request_put();
      put->set_key(tokens_prefix_ + commit.name);
      put->set_value(commit.sealed);
      put->set_lease(lease);
      pb::PutRequest* index =
          call->request.add_success()->mutable_request_put();
      index->set_key(fingerprints_prefix_ + commit.fingerprint);
      index->set_value(commit.sealed_index);
      index->set_lease(lease);
    }
    call->request.add_success()->mutable_request_delete_range()->set_key(
        lock_key);
    // When the lock is not ours, what tokens/N and fingerprints/F hold: our
    // own values when an earlier try of this commit was applied but its
    // answer was lost (tokens/N may hold a newer token since).
    if (lease != 0) {
      call->request.add_failure()->mutable_request_range()->set_key(
          tokens_prefix_ + commit.name);
      call->request.add_failure()->mutable_request_range()->set_key(
          fingerprints_prefix_ + commit.fingerprint);
    }
    kv_->async()->Txn(
        &call->context, &call->request, &call->response,
        [this, call, lease, reused,
         commit = std::move(commit)](grpc::Status status) mutable {
          if (!status.ok()) {
            if (reused && status.error_code() == grpc::StatusCode::NOT_FOUND) {
              // etcd no longer has the earlier try's lease (it ran out or
              // was revoked), so that try did not land: a new one.
              commit.lease = 0;
              RunCommit(std::move(commit));  // ends this call
              return;
            }
            commit.lease = lease;
            Remember(std::move(commit));
          } else {
            // Releasing the lock only, a lock already gone is no loss.
            if (!call->response.succeeded() && lease != 0) {
              if (!LandedBefore(call->response, commit.sealed,
                                commit.sealed_index)) {
                // No try of ours was applied, so the lease is unused.
                RevokeUnusedLease(lease);
                // Our session ended mid-fetch and another replica took
                // the lock: its token is the newer one.
                Log(LogLevel::kWarning, "fleet_lock_lost",
                    "this replica's lock on a token ended while it fetched: "
                    "the token is used here but not written to etcd",
                    {{"profile", commit.profile}});
              }
            }
            if (commit.then) commit.then();
          }
          EndCall();
        });
  };
  if (commit.sealed.empty()) {
    write(std::move(commit), 0, false);
    return;
  }
  if (commit.lease != 0) {
    const int64_t lease = commit.lease;
    write(std::move(commit), lease, true);
    return;
  }
  // The token's key lives as long as the token.
  auto grant =
      std::make_shared<Call<pb::LeaseGrantRequest, pb::LeaseGrantResponse>>();
  Bound(&grant->context);
  const absl::Duration left = commit.expires - clock_->Now();
  grant->request.set_ttl(std::max<int64_t>(
      1, absl::ToInt64Seconds(absl::Ceil(left, absl::Seconds(1)))));
  lease_stub_->async()->LeaseGrant(
      &grant->context, &grant->request, &grant->response,
      [this, grant, write,
       commit = std::move(commit)](grpc::Status status) mutable {
        if (status.ok()) {
          write(std::move(commit), grant->response.id(), false);
        } else {
          Remember(std::move(commit));
          EndCall();
        }
      });
}

void EtcdTokens::RevokeUnusedLease(int64_t lease) {
  {
    MutexLock lock(&mu_);
    ++calls_;
  }
  auto call =
      std::make_shared<Call<pb::LeaseRevokeRequest, pb::LeaseRevokeResponse>>();
  Bound(&call->context);
  call->request.set_id(lease);
  // Best effort: a lease etcd did not revoke ends with its TTL.
  lease_stub_->async()->LeaseRevoke(&call->context, &call->request,
                                    &call->response,
                                    [this, call](grpc::Status) { EndCall(); });
}

void EtcdTokens::Remember(PendingCommit commit) {
  // etcd did not answer: the lock may still be held, and would keep the
  // other replicas waiting. Tried again when the watch is back; our
  // callers are answered now.
  std::function<void()> then = std::move(commit.then);
  commit.then = nullptr;
  {
    MutexLock lock(&mu_);
    unfinished_.push_back(std::move(commit));
    // Also on a timer: etcd may have failed one call while the watch
    // stayed up, and the lock would hold the key for the whole fleet.
    if (!retry_scheduled_ && !stopping_) {
      retry_scheduled_ = true;
      timers_->RunAt(clock_->Now() + options_.commit_retry,
                     [this] { RetryUnfinished(); });
    }
  }
  if (then) then();
}

void EtcdTokens::RetryUnfinished() {
  std::vector<PendingCommit> retry;
  {
    MutexLock lock(&mu_);
    retry_scheduled_ = false;
    retry.swap(unfinished_);
  }
  for (PendingCommit& commit : retry) {
    if (BeginCall()) RunCommit(std::move(commit));
  }
}

void EtcdTokens::Finish(AttemptPtr attempt, CachedToken token) {
  {
    MutexLock lock(&mu_);
    DoneLocked(attempt);
  }
  ExchangedToken exchanged;
  exchanged.token = std::move(token);
  std::move(attempt->done)(std::move(exchanged));
}

void EtcdTokens::FetchHere(AttemptPtr attempt) {
  {
    MutexLock lock(&mu_);
    DoneLocked(attempt);
  }
  std::move(attempt->fetch)(std::move(attempt->done));
}

void EtcdTokens::Find(absl::string_view fingerprint, FindDone done) {
  auto not_found = [fingerprint = std::string(fingerprint)] {
    return absl::NotFoundError(
        absl::StrCat("no replica of the fleet holds a token with fingerprint ",
                     fingerprint));
  };
  if (!session_->connected() || !BeginCall()) {
    std::move(done)(not_found());
    return;
  }
  // gRPC's callbacks are std::function, so copyable.
  auto answer = std::make_shared<FindDone>(std::move(done));
  auto call = std::make_shared<Call<pb::RangeRequest, pb::RangeResponse>>();
  Bound(&call->context);
  call->request.set_key(absl::StrCat(fingerprints_prefix_, fingerprint));
  kv_->async()->Range(
      &call->context, &call->request, &call->response,
      [this, call, not_found, fingerprint = std::string(fingerprint),
       answer](grpc::Status status) {
        std::optional<CachedToken> found;
        if (status.ok() && call->response.kvs_size() > 0) {
          const mvccpb::KeyValue& kv = call->response.kvs(0);
          absl::StatusOr<CachedToken> token = Open(kv.key(), kv.value());
          if (token.ok() && token->fingerprint == fingerprint) {
            found = *std::move(token);
          }
        }
        if (found.has_value()) {
          std::move (*answer)(*std::move(found));
        } else {
          std::move (*answer)(not_found());
        }
        EndCall();
      });
}

}  // namespace tokenservice
