// FakeMyposServer: an in-process stand-in for the myPOS OAuth2 auth server,
// so integration tests and the demo run with no credentials and no network.
//
// It speaks plain HTTP on loopback and implements what TokenService uses:
//
//   POST /oauth/token   client_credentials grant (RFC 6749 §4.4, §5.1, §5.2)
//   POST /oauth/revoke  token revocation (RFC 7009)
//   GET  /api/ping      a protected resource that accepts a live Bearer token
//
// Clients authenticate with `Authorization: Basic` as RFC 6749 §2.3.1 says:
// id and secret form-urlencoded, joined by ':', then base64. Every token it
// issues is recorded, so tests can ask whether a token is still active and
// what the client sent. Faults (any status, body, headers, delay) can be
// queued per endpoint, and a latency can be set for every /oauth/* reply.
// Delays are served by waiting inside the server, interrupted by Stop(), so
// tests never sleep themselves.

#ifndef FAKE_MYPOS_FAKE_MYPOS_SERVER_H_
#define FAKE_MYPOS_FAKE_MYPOS_SERVER_H_

#include <httplib.h>

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/mutex.h"

namespace tokenservice {

// Thread-safe. Serves on its own threads between Start() and Stop(); the
// destructor stops it. Observers may be called at any time.
class FakeMyposServer {
 public:
  struct Options {
    std::map<std::string, std::string> clients;  // client_id -> secret
    absl::Duration token_lifetime = absl::Hours(1);
    bool expires_in_as_string = false;  // "expires_in":"3600" instead of 3600
  };

  // A canned reply that replaces the normal handling of one request.
  struct Fault {
    int status = 500;
    std::string body;  // sent as application/json unless headers say else
    std::vector<std::pair<std::string, std::string>> headers;
    absl::Duration delay;  // waited before replying
  };

  explicit FakeMyposServer(Options options);
  ~FakeMyposServer();
  FakeMyposServer(const FakeMyposServer&) = delete;
  FakeMyposServer& operator=(const FakeMyposServer&) = delete;

  // Listens on host:port (port 0 picks a free one) and serves on background
  // threads. Returns the bound port once connections are being accepted.
  // Unavailable when the address cannot be bound; FailedPrecondition when
  // called a second time.
  absl::StatusOr<int> Start(const std::string& host = "127.0.0.1", int port = 0)
      ABSL_LOCKS_EXCLUDED(lifecycle_mu_);

  // Stops serving, cutting short any injected delay, and waits for the
  // server threads. A client connection left idle is closed by the server
  // within 1 s, so Stop() may wait that long for it. Idempotent; safe before
  // Start(). A stopped server cannot be started again.
  void Stop() ABSL_LOCKS_EXCLUDED(lifecycle_mu_);

  // "http://HOST:PORT" of the started server; a wildcard host reads as
  // 127.0.0.1.
  std::string BaseUrl() const ABSL_LOCKS_EXCLUDED(mu_);

  // The next request to that endpoint (first in, first out; one fault per
  // request) gets `fault` instead of normal handling. It still counts.
  void EnqueueTokenFault(Fault fault) ABSL_LOCKS_EXCLUDED(mu_);
  void EnqueueRevokeFault(Fault fault) ABSL_LOCKS_EXCLUDED(mu_);

  // Every later reply on /oauth/* first waits `latency` (then any fault
  // delay).
  void SetLatency(absl::Duration latency) ABSL_LOCKS_EXCLUDED(mu_);

  // POST requests to /oauth/token and /oauth/revoke, rejected ones included.
  int token_requests() const ABSL_LOCKS_EXCLUDED(mu_);
  int revoke_requests() const ABSL_LOCKS_EXCLUDED(mu_);
  // Tokens actually revoked, in order.
  std::vector<std::string> revoked_tokens() const ABSL_LOCKS_EXCLUDED(mu_);
  // The client id decoded from the last revoke request ("" if undecodable).
  std::string last_revoke_client_id() const ABSL_LOCKS_EXCLUDED(mu_);
  // The raw Authorization header and body of the last token request.
  std::string last_token_authorization() const ABSL_LOCKS_EXCLUDED(mu_);
  std::string last_token_body() const ABSL_LOCKS_EXCLUDED(mu_);
  // True when `token` was issued, is not revoked and has not expired.
  bool IsTokenActive(const std::string& token) const ABSL_LOCKS_EXCLUDED(mu_);
  // Distinct TCP connections seen, by (remote address, remote port).
  int connections() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct IssuedToken {
    std::string client_id;
    std::vector<std::string> scopes;
    absl::Time issue_time;
    bool revoked = false;
  };

  void HandleToken(const httplib::Request& req, httplib::Response& res)
      ABSL_LOCKS_EXCLUDED(mu_);
  void HandleRevoke(const httplib::Request& req, httplib::Response& res)
      ABSL_LOCKS_EXCLUDED(mu_);
  void HandlePing(const httplib::Request& req, httplib::Response& res)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Counts a request to that endpoint, records what tests observe and pops
  // the endpoint's next fault, if any.
  std::optional<Fault> BeginTokenRequest(const httplib::Request& req)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<Fault> BeginRevokeRequest(const httplib::Request& req)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Waits the latency, then replies `fault` if set. Returns whether it did.
  bool ReplyFault(const std::optional<Fault>& fault,
                  httplib::Response& res) const ABSL_LOCKS_EXCLUDED(mu_);
  // Checks the content type and the client; writes the error reply and
  // returns false when either is wrong.
  bool Authenticate(const httplib::Request& req, httplib::Response& res,
                    std::string* client_id) const ABSL_LOCKS_EXCLUDED(mu_);
  std::string IssueToken(const std::string& client_id,
                         std::vector<std::string> scopes)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Marks `token` revoked when `client_id` owns it. Returns false only when
  // the token was issued to another client.
  bool RevokeToken(const std::string& client_id, const std::string& token)
      ABSL_LOCKS_EXCLUDED(mu_);
  bool IsActiveLocked(const std::string& token) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Waits `delay`, or less if Stop() is called meanwhile.
  void Delay(absl::Duration delay) const;

  const Options options_;
  httplib::Server http_;
  absl::Notification stopping_;

  // tokenservice::Mutex (server/mutex.h), so that ThreadSanitizer sees the
  // locks: Debian's absl::Mutex is not instrumented.
  mutable Mutex lifecycle_mu_;
  bool started_ ABSL_GUARDED_BY(lifecycle_mu_) = false;
  std::thread thread_ ABSL_GUARDED_BY(lifecycle_mu_);

  mutable Mutex mu_;
  std::string base_url_ ABSL_GUARDED_BY(mu_);
  absl::Duration latency_ ABSL_GUARDED_BY(mu_);
  std::deque<Fault> token_faults_ ABSL_GUARDED_BY(mu_);
  std::deque<Fault> revoke_faults_ ABSL_GUARDED_BY(mu_);
  int token_requests_ ABSL_GUARDED_BY(mu_) = 0;
  int revoke_requests_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> revoked_tokens_ ABSL_GUARDED_BY(mu_);
  std::string last_revoke_client_id_ ABSL_GUARDED_BY(mu_);
  std::string last_token_authorization_ ABSL_GUARDED_BY(mu_);
  std::string last_token_body_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, IssuedToken> tokens_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<std::string, int>> connections_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tokenservice

#endif  // FAKE_MYPOS_FAKE_MYPOS_SERVER_H_
