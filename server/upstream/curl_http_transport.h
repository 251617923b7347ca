// CurlHttpTransport: the HttpTransport over libcurl's multi interface.
//
// One thread of its own drives every transfer (curl_multi_poll), so however
// many requests are under way, and however slow myPOS is, no other thread
// waits on the network. The multi handle's connection cache keeps
// keep-alive connections (and TLS sessions) to myPOS from one request to
// the next. At most max_connections_per_host requests to one host
// (scheme, host and port) run at once; the rest wait in our queue, in lane
// order (http_transport.h: kReserved first, kCaller requests leave a
// quarter of the connections free), first come first served within a
// lane, each until its deadline. TLS peer and host verification are always
// on; redirects are never followed (a 3xx is returned as a reply); only
// http and https are allowed. Proxies follow libcurl's usual environment
// variables (http_proxy, https_proxy, no_proxy, ...): no proxy option is
// ever set. Retry-After is read with CURLINFO_RETRY_AFTER.

#ifndef SERVER_UPSTREAM_CURL_HTTP_TRANSPORT_H_
#define SERVER_UPSTREAM_CURL_HTTP_TRANSPORT_H_

#include <curl/curl.h>

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "server/upstream/http_transport.h"

namespace tokenservice {

// Post() returns the codes documented in HttpTransport, each with a reason
// (error_reason.h), from one switch over every libcurl error code
// (CurlErrorToStatus, curl_transfer.h):
//   kUnavailable       UPSTREAM_UNAVAILABLE: resolve, connect, send, receive
//                      or TLS handshake failure, a reply cut short, an
//                      attempt that hit max_attempt_timeout, or no memory or
//                      curl handle for the request;
//                      UPSTREAM_TLS_FAILED: the peer's certificate was not
//                      verified ("TLS verification of myPOS failed");
//                      UPSTREAM_BAD_REPLY: a reply body over
//                      max_response_bytes;
//   kDeadlineExceeded  DEADLINE_EXCEEDED: the request deadline passed
//                      (before sending, or during the exchange);
//   kInvalidArgument   BAD_REQUEST: a malformed URL, a scheme other than
//                      http(s), or a header containing CR or LF.
// A failure before any of the request was sent (no connection, a failed TLS
// handshake) carries the metadata request_sent=false (error_reason.h).
// Connect and total timeouts are both the time left until the request's
// deadline, capped at max_attempt_timeout. Messages carry libcurl's
// description of the error and the URL's host, never header values or the
// body.
//
// A request that waited in the queue until its deadline fails with
// kDeadlineExceeded and request_sent=false; one whose `wanted` says no when
// its turn comes fails with kCancelled and request_sent=false, unsent.
// Callbacks run on the transport's thread, one at a time: they may Post();
// Shutdown() called from one returns at once, and the requests it ends get
// their callbacks right after it returns. A reply with a Retry-After header
// gets retry_after (libcurl's seconds, at least zero: zero for "now", a past
// date or a value libcurl cannot read); one without gets none, which is how
// the zero libcurl reports for both is told apart.
//
// Thread-safe. Must not be destroyed from one of its own callbacks.
class CurlHttpTransport : public HttpTransport {
 public:
  struct Options {
    // CA certificates (PEM) to verify the server with; empty: libcurl's
    // default bundle.
    std::string ca_bundle_file;
    // A longer reply body fails the request with kUnavailable.
    size_t max_response_bytes = 64 * 1024;
    // One attempt never takes longer than this, whatever the deadline.
    absl::Duration max_attempt_timeout = absl::Seconds(30);
    std::string user_agent = "tokenservice/1";
    // Requests to one host under way at once (--max_upstream_connections);
    // over HTTP/1.1, connections open to it.
    int max_connections_per_host = 64;
  };

  // Initialises libcurl globally on first use.
  explicit CurlHttpTransport(Options options);

  CurlHttpTransport(const CurlHttpTransport&) = delete;
  CurlHttpTransport& operator=(const CurlHttpTransport&) = delete;

  // Shuts down (see HttpTransport::Shutdown) and joins the thread.
  ~CurlHttpTransport() override;

  void Post(HttpRequest request, HttpCallback done) override;
  void Shutdown() override;

 private:
  // One request, from Post() until its callback has run.
  struct Call;
  // One origin (scheme://host:port): its transfers under way and its queues.
  struct Host;
  using CallPtr = std::unique_ptr<Call>;

  // The loop thread: until the destructor stops it, moves posted requests
  // into their host's queue, starts what the caps allow, drives libcurl
  // and runs the callbacks of what ended.
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  // The rest run on the loop thread only, as do the fields after `mu_`'s.
  // Queues `call`, or finishes it at once (unusable, or past its deadline).
  void Admit(CallPtr call, absl::Time now);
  // Finishes every queued request whose deadline is not after `now`.
  void ExpireQueued(absl::Time now);
  // Starts, for every host, the queued requests its caps allow, in lane
  // order; forgets hosts with nothing left.
  void StartQueued();
  void StartQueued(Host& host);
  // Hands `call` to libcurl, or finishes it when that fails.
  void Start(CallPtr call);
  // Finishes the transfers libcurl says are done.
  void CollectDone();
  // Finishes everything under way or queued, and `arrived`, with
  // SERVER_SHUTTING_DOWN.
  void EndAll(std::vector<CallPtr> arrived);
  // Takes `call` out of its host's queue.
  CallPtr Dequeue(Call* call);
  // Stores `result` for `call`'s callback, which RunCallbacks() runs.
  void Finish(CallPtr call, absl::StatusOr<HttpResponse> result);
  void RunCallbacks();
  // How long curl_multi_poll may sleep: until libcurl's next timeout or the
  // earliest deadline of a queued request.
  int PollTimeoutMs() const;

  const Options options_;
  CURLM* const multi_;   // owned; its connection cache is the reuse
  CURLSH* const share_;  // owned; TLS sessions shared by every transfer

  Mutex mu_;
  // Posted, not yet taken by the loop.
  std::vector<CallPtr> inbox_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  // Shutdown() calls so far, and how many of them the loop has answered:
  // it answers a call once it has ended everything posted before it.
  uint64_t shutdowns_asked_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t shutdowns_done_ ABSL_GUARDED_BY(mu_) = 0;
  // The destructor's: the loop ends.
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // The loop thread's alone (no lock).
  absl::flat_hash_map<std::string, std::unique_ptr<Host>> hosts_;
  absl::flat_hash_map<CURL*, CallPtr> running_;
  // Every queued request by deadline (also in its host's queue).
  std::multimap<absl::Time, Call*> queued_deadlines_;
  // Ended, callbacks not yet run.
  std::vector<CallPtr> finished_;

  std::thread thread_;  // last: starts once the fields above exist
};

}  // namespace tokenservice

#endif  // SERVER_UPSTREAM_CURL_HTTP_TRANSPORT_H_
