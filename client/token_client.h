// TokenClient: myPOS access tokens from TokenService for an internal
// service, cached in-process so that asking for a token before every myPOS
// request costs a lookup in the calling thread's own table, with no lock
// (client/thread_local_token_cache.h), not a network round trip.
//
//   ChannelOptions channel;
//   channel.target = "tokenservice.internal:50051";
//   TokenClient::Options options;
//   options.caller_key = caller_key_from_secret_file;
//   auto client = TokenClient::Create(channel, options);
//   if (!client.ok()) return client.status();
//   const TokenKey key("default", {"webhooks"});  // build once, reuse
//
//   absl::StatusOr<TokenClient::TokenPtr> token = (*client)->GetToken(key);
//   if (!token.ok()) return token.status();        // gRPC code, see below
//   int status = CallMypos((*token)->AuthorizationHeader());
//   if (status == 401) {                           // myPOS rejected it
//     token = (*client)->ReportRejected(**token);  // drop, refresh once
//     if (token.ok()) status = CallMypos((*token)->AuthorizationHeader());
//   }
//
// Revocations: the client subscribes to TokenService.WatchRevocations (a
// thread of its own), so a token revoked anywhere (this replica, or any
// replica of a fleet) leaves this cache within milliseconds. While that
// stream is down, or not yet up, a cached token is served for at most
// Options::revocation_grace after it went down (after the client was
// created, before it first connected); after that every GetToken asks
// TokenService (each call a round trip) until the stream is back, and
// then everything cached is dropped once, since revocations may have been
// missed. Against a server without WatchRevocations (UNIMPLEMENTED), or
// with a generated mock stub that sets up no stream, the client caches as
// before, with no revocation push.

#ifndef CLIENT_TOKEN_CLIENT_H_
#define CLIENT_TOKEN_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/clock.h"
#include "base/mutex.h"
#include "client/channel_factory.h"
#include "client/thread_local_token_cache.h"
#include "client/token.h"
#include "client/token_key.h"
#include "proto/token_service.grpc.pb.h"

namespace tokenservice {

// Thread-safe. Holds at most one token per TokenKey. A cached token is
// served until its expire_time minus `expiry_margin` (by the injected
// Clock); then the next GetToken fetches from TokenService. However many
// threads miss on one key at once, one Issue call is in flight for it and
// they all share its result. Failures are not cached.
//
// Each thread that GetToken serves from the cache keeps its own handle on
// the token (ThreadLocalTokenCache), at most one per key of this client,
// so that a hit takes no lock. A token that was replaced, or dropped by
// ReportRejected, is not returned by any thread afterwards, but a thread's
// handle keeps it in memory until that thread next refills from this
// client (any key) or exits; a destroyed client's handles, until the
// thread next refills from any client or exits. Do not call GetToken from
// the destructor of a thread_local object: the table may be gone.
//
// Errors are TokenService's gRPC codes as absl codes (same numbers):
// UNAVAILABLE (after the channel's retries), DEADLINE_EXCEEDED, NOT_FOUND
// (unknown profile), INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE.
// Messages never contain a token or the caller key.
class TokenClient {
 public:
  using TokenPtr = std::shared_ptr<const Token>;

  struct Options {
    // Sent as `x-caller-key` metadata on every call; empty sends none.
    std::string caller_key;
    // Deadline of each Issue call, all retries included.
    absl::Duration call_timeout = absl::Seconds(10);
    // A cached token is used until expire_time - expiry_margin.
    absl::Duration expiry_margin = absl::Seconds(30);
    // Validity left that Issue asks the server for; must exceed
    // expiry_margin so that each fetched token is usable for a while.
    absl::Duration min_validity = absl::Seconds(90);
    // Subscribe to WatchRevocations (see above). Off only for stubs that
    // cannot stream (tests' mocks).
    bool watch_revocations = true;
    // How long cached tokens are served while that stream is down.
    absl::Duration revocation_grace = absl::Seconds(10);
  };

  // Connects as `channel` says. kInvalidArgument for bad options (see
  // ValidateOptions and CreateTokenServiceChannel), kFailedPrecondition for
  // unreadable TLS files. `clock` defaults to the system clock.
  static absl::StatusOr<std::unique_ptr<TokenClient>> Create(
      const ChannelOptions& channel, Options options,
      std::shared_ptr<const Clock> clock = nullptr);

  // OK when the durations are positive and min_validity > expiry_margin,
  // and the caller key (if any) can travel as metadata; else
  // kInvalidArgument.
  static absl::Status ValidateOptions(const Options& options);

  // For tests and custom channels: `options` must pass ValidateOptions.
  TokenClient(
      std::shared_ptr<mypos::token::v1::TokenService::StubInterface> stub,
      Options options, std::shared_ptr<const Clock> clock);

  TokenClient(const TokenClient&) = delete;
  TokenClient& operator=(const TokenClient&) = delete;
  // Ends the revocation stream and joins its thread.
  ~TokenClient();

  // A token for `key` with at least expiry_margin left: the cached one, or
  // a fresh one from TokenService (waiting for a call already in flight for
  // `key` rather than starting another).
  absl::StatusOr<TokenPtr> GetToken(const TokenKey& key)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Call after the myPOS API answered 401 to `token`. Drops the local copy
  // and asks TokenService for a replacement with `token`'s fingerprint as
  // rejected_fingerprint, so the server refreshes exactly once however
  // many callers report it. Returns the replacement. When another thread
  // already replaced the token locally, returns that one without a call;
  // concurrent reports of one token share one call.
  absl::StatusOr<TokenPtr> ReportRejected(const Token& token)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<TokenPtr> ReportRejected(const TokenKey& key,
                                          absl::string_view access_token)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Exchanges a user's grant at myPOS through TokenService
  // (TokenService.ExchangeGrant): one call, never retried and never cached,
  // since a code is single use and a refresh token may rotate. UNKNOWN
  // (reason UPSTREAM_OUTCOME_UNKNOWN) means the grant may be spent: do not
  // send it again.
  absl::StatusOr<mypos::token::v1::ExchangeGrantResponse> ExchangeGrant(
      const mypos::token::v1::ExchangeGrantRequest& request) const;

  // For tests: returns once at least `n` threads, besides the one making
  // it, have joined the Issue call in flight for `key` (each will return
  // that call's result). Blocks while no call is in flight for `key`.
  void AwaitFlightWaitersForTesting(const TokenKey& key, int n) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // For tests: waits until the revocation stream is `live` (or not), or
  // `deadline`; true if it is.
  bool AwaitWatchForTesting(bool live, absl::Time deadline) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // For tests: waits until the client has given the stream up for good
  // (the server has no WatchRevocations), or `deadline`; true if it has.
  bool AwaitWatchUnsupportedForTesting(absl::Time deadline) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // For tests: waits until the stream brought the revocation of
  // `fingerprint` (one of the last kRecentRevocations), or `deadline`;
  // true if it did.
  bool AwaitRevocationForTesting(absl::string_view fingerprint,
                                 absl::Time deadline) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Flight;
  struct Entry {
    TokenPtr token;                  // null when nothing usable is cached
    std::shared_ptr<Flight> flight;  // the Issue call in flight, if any
  };

  bool IsUsable(const Token& token, absl::Time now) const;
  // The revocation stream's thread: connects, drops what it names, and
  // reconnects with backoff until the client is destroyed.
  void WatchLoop() ABSL_LOCKS_EXCLUDED(mu_);
  // Drops every cached token (`named` null) or those `named` names, and
  // remembers the names (AwaitRevocationForTesting).
  void DropLocked(const mypos::token::v1::RevocationBatch* named)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Returns a usable cached token, or joins or starts an Issue call for
  // `key` that reports `rejected_fingerprint` (may be empty).
  absl::StatusOr<TokenPtr> Fetch(const TokenKey& key,
                                 const std::string& rejected_fingerprint)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The Issue call itself; no lock held.
  absl::StatusOr<TokenPtr> CallIssue(const TokenKey& key,
                                     const std::string& rejected_fingerprint);

  const std::shared_ptr<mypos::token::v1::TokenService::StubInterface> stub_;
  const Options options_;
  const std::shared_ptr<const Clock> clock_;

  mutable Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  // Each thread's copies of entries_' tokens. Invalidated under mu_ (held
  // exclusively) whenever an entry's token is replaced or dropped, so that
  // its generation read under mu_ vouches for the tokens read with it.
  ThreadLocalTokenCache local_;

  // Unix nanoseconds from which no cached token is served: INT64_MAX
  // while the revocation stream is live (read on the hit path).
  std::atomic<int64_t> serve_until_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool watch_live_ ABSL_GUARDED_BY(mu_) = false;
  bool watch_unsupported_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* watch_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  // The last kRecentRevocations fingerprints the stream brought: a call
  // answered with one of them is not cached.
  static constexpr size_t kRecentRevocations = 256;
  std::deque<std::string> recent_revocations_ ABSL_GUARDED_BY(mu_);
  std::thread watch_thread_;  // last: starts once the fields above exist
};

}  // namespace tokenservice

#endif  // CLIENT_TOKEN_CLIENT_H_
