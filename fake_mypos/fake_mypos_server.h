// FakeMyposServer: an in-process stand-in for the myPOS OAuth2 auth server,
// so integration tests and the demo run with no credentials and no network.
// Over HTTP, or HTTPS with a test-made certificate, on loopback it serves
// POST /oauth/token (client_credentials, authorization_code with PKCE,
// refresh_token), POST /oauth/revoke (RFC 7009) and GET /api/ping (accepts
// a live Bearer token); see fake_mypos/README.md. Clients authenticate as
// RFC 6749 §2.3.1 says. It records what clients sent and every token it
// issued, counts connections and TLS handshakes, and injects faults (any
// reply, delay, or a connection dropped mid-body; fault_injector.h) and
// requests that are never answered (Options::hang_scope).

#ifndef FAKE_MYPOS_FAKE_MYPOS_SERVER_H_
#define FAKE_MYPOS_FAKE_MYPOS_SERVER_H_

#include <httplib.h>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "fake_mypos/fault_injector.h"
#include "fake_mypos/grant_store.h"
#include "fake_mypos/token_ledger.h"

namespace tokenservice {

// Thread-safe. Serves on its own threads between Start() and Stop(); the
// destructor stops it. Observers may be called at any time.
class FakeMyposServer {
 public:
  struct Options {
    std::map<std::string, std::string> clients;  // client_id -> secret
    absl::Duration token_lifetime = absl::Hours(1);
    bool expires_in_as_string = false;  // "expires_in":"3600" instead of 3600
    // PEM files: when both are set, the server speaks HTTPS only.
    std::string tls_cert_file;
    std::string tls_key_file;
    // Waited before every /oauth/* reply, as SetLatency() (which changes it).
    absl::Duration latency = absl::ZeroDuration();
    // When set, a client_credentials request whose `scope` holds this scope
    // token is never answered: it counts (hung_requests()), waits until
    // Stop(), then gets a reply cut off before its body. No latency or
    // queued fault applies to it.
    std::string hang_scope;
    // Connections served at once (at least 1), one httplib worker each. A
    // request held by latency, a delay or hang_scope keeps its worker.
    int worker_threads = 64;
  };

  using Fault = fake_mypos::Fault;  // a canned reply (fault_injector.h)

  explicit FakeMyposServer(Options options);
  ~FakeMyposServer();
  FakeMyposServer(const FakeMyposServer&) = delete;
  FakeMyposServer& operator=(const FakeMyposServer&) = delete;

  // Listens on host:port (port 0 picks a free one) and serves on background
  // threads. Returns the bound port once connections are being accepted
  // and every worker thread runs.
  // Unavailable when the address cannot be bound; FailedPrecondition when
  // called a second time or when the TLS certificate or key is unusable.
  absl::StatusOr<int> Start(const std::string& host = "127.0.0.1", int port = 0)
      ABSL_LOCKS_EXCLUDED(lifecycle_mu_);

  // Stops serving, cutting short any injected delay or hang, and waits for the
  // server threads (up to 1 s for an idle client connection). Idempotent;
  // safe before Start(). A stopped server cannot be started again.
  void Stop() ABSL_LOCKS_EXCLUDED(lifecycle_mu_);

  // "http[s]://HOST:PORT" of the server; a wildcard host reads 127.0.0.1.
  std::string BaseUrl() const ABSL_LOCKS_EXCLUDED(mu_);

  // The next request to that endpoint (first in, first out; one fault per
  // request) gets `fault` instead of normal handling. It still counts.
  void EnqueueTokenFault(Fault fault) ABSL_LOCKS_EXCLUDED(mu_);
  void EnqueueRevokeFault(Fault fault) ABSL_LOCKS_EXCLUDED(mu_);

  // Every later reply on /oauth/* first waits `latency` (then any delay).
  void SetLatency(absl::Duration latency) ABSL_LOCKS_EXCLUDED(mu_);

  // A single-use authorization code for `client_id`, as if its user had
  // consented: redeemable with the same redirect_uri and, when
  // `code_challenge` (S256, see fake_mypos::S256Challenge) is set, the
  // matching code_verifier. Tokens bought with it carry a refresh token.
  std::string IssueAuthorizationCode(const std::string& client_id,
                                     const std::string& redirect_uri,
                                     const std::string& code_challenge,
                                     std::vector<std::string> scopes = {});

  // POST requests to /oauth/token and /oauth/revoke, rejected ones included.
  int token_requests() const ABSL_LOCKS_EXCLUDED(mu_);
  int revoke_requests() const ABSL_LOCKS_EXCLUDED(mu_);
  // Returns once token_requests() reaches `n`: a request counts as soon as
  // its handler starts, before any latency or fault delay. Blocks forever
  // if it never does.
  void AwaitTokenRequests(int n) const ABSL_LOCKS_EXCLUDED(mu_);
  // Token requests held by Options::hang_scope, each counted as its handler
  // starts to wait (they are all held until Stop()).
  int hung_requests() const ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until hung_requests() reaches `n` or until `deadline`; true when
  // it did.
  bool AwaitHungRequests(int n, absl::Time deadline) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Tokens actually revoked, in order.
  std::vector<std::string> revoked_tokens() const ABSL_LOCKS_EXCLUDED(mu_);
  // The client id decoded from the last revoke request ("" if undecodable).
  std::string last_revoke_client_id() const ABSL_LOCKS_EXCLUDED(mu_);
  // The raw Authorization header and body of the last token request.
  std::string last_token_authorization() const ABSL_LOCKS_EXCLUDED(mu_);
  std::string last_token_body() const ABSL_LOCKS_EXCLUDED(mu_);
  // True when `token` was issued, is not revoked and has not expired.
  bool IsTokenActive(const std::string& token) const ABSL_LOCKS_EXCLUDED(mu_);
  // Distinct TCP connections that sent a request (by remote address, port).
  int connections() const ABSL_LOCKS_EXCLUDED(mu_);
  // TCP connections accepted, whether or not anything followed.
  int accepted_connections() const { return accepted_.load(); }
  // TLS handshakes completed (0 without TLS).
  int tls_handshakes() const;

 private:
  void HandleToken(const httplib::Request& req, httplib::Response& res)
      ABSL_LOCKS_EXCLUDED(mu_);
  void HandleRevoke(const httplib::Request& req, httplib::Response& res)
      ABSL_LOCKS_EXCLUDED(mu_);
  void HandlePing(const httplib::Request& req, httplib::Response& res)
      ABSL_LOCKS_EXCLUDED(mu_);
  // True when `req` asks for Options::hang_scope.
  bool Hangs(const httplib::Request& req) const;
  // Counts a hung request, waits until Stop() and cuts the reply off.
  void Hang(httplib::Response& res) ABSL_LOCKS_EXCLUDED(mu_);
  // Counts a request to that endpoint and records what tests observe.
  void BeginTokenRequest(const httplib::Request& req) ABSL_LOCKS_EXCLUDED(mu_);
  void BeginRevokeRequest(const httplib::Request& req) ABSL_LOCKS_EXCLUDED(mu_);
  // Checks the content type and the client; writes the error reply and
  // returns false when either is wrong.
  bool Authenticate(const httplib::Request& req, httplib::Response& res,
                    std::string* client_id) const ABSL_LOCKS_EXCLUDED(mu_);
  // The scopes a token request grants, after checking its grant; false
  // after writing the error reply. `user_grant`: a refresh token goes along.
  bool GrantScopes(const std::string& client_id,
                   const std::map<std::string, std::string>& form,
                   httplib::Response& res, std::vector<std::string>* scopes,
                   bool* user_grant);

  const Options options_;
  std::atomic<int> accepted_{0};
  std::unique_ptr<httplib::Server> http_;  // an SSLServer with TLS
  absl::Notification workers_started_;     // httplib made its thread pool
  fake_mypos::FaultInjector faults_;
  fake_mypos::TokenLedger ledger_;
  fake_mypos::GrantStore grants_;

  // tokenservice::Mutex (base/mutex.h), so that ThreadSanitizer sees the
  // locks: Debian's Mutex is not instrumented.
  mutable Mutex lifecycle_mu_;
  bool started_ ABSL_GUARDED_BY(lifecycle_mu_) = false;
  std::thread thread_ ABSL_GUARDED_BY(lifecycle_mu_);

  mutable Mutex mu_;
  std::string base_url_ ABSL_GUARDED_BY(mu_);
  int token_requests_ ABSL_GUARDED_BY(mu_) = 0;
  int revoke_requests_ ABSL_GUARDED_BY(mu_) = 0;
  int hung_requests_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_revoke_client_id_ ABSL_GUARDED_BY(mu_);
  std::string last_token_authorization_ ABSL_GUARDED_BY(mu_);
  std::string last_token_body_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<std::string, int>> connections_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tokenservice

#endif  // FAKE_MYPOS_FAKE_MYPOS_SERVER_H_
