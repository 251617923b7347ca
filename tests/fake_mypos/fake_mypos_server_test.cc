// Tests FakeMyposServer over real HTTP on 127.0.0.1 with httplib::Client.

#include "fake_mypos/fake_mypos_server.h"

#include <httplib.h>

#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenservice {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kForm[] = "application/x-www-form-urlencoded";
constexpr char kGrant[] = "grant_type=client_credentials";

// application/x-www-form-urlencoded, written here independently of the code
// under test: unreserved bytes stay, space is '+', the rest is %XX.
std::string FormEncode(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' ||
        c == '*') {
      out.push_back(c);
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

// The RFC 6749 §2.3.1 header for `id` and `secret`.
std::string Basic(const std::string& id, const std::string& secret) {
  return "Basic " +
         absl::Base64Escape(FormEncode(id) + ":" + FormEncode(secret));
}

FakeMyposServer::Options DefaultOptions() {
  FakeMyposServer::Options options;
  options.clients = {{"client", "secret"}, {"other", "other-secret"}};
  return options;
}

// A started server and a keep-alive client to it. The client is destroyed
// first, so the server never waits for an idle connection.
struct Harness {
  explicit Harness(FakeMyposServer::Options options = DefaultOptions())
      : server(std::move(options)) {
    absl::StatusOr<int> started = server.Start();
    EXPECT_TRUE(started.ok()) << started.status();
    port = started.value_or(0);
    client = std::make_unique<httplib::Client>("127.0.0.1", port);
    client->set_keep_alive(true);
    client->set_tcp_nodelay(true);
  }

  httplib::Result Post(const std::string& path, const std::string& body,
                       const std::string& authorization,
                       const std::string& content_type = kForm) {
    httplib::Headers headers;
    if (!authorization.empty()) headers.emplace("Authorization", authorization);
    return client->Post(path.c_str(), headers, body, content_type.c_str());
  }
  httplib::Result Token(const std::string& body = kGrant) {
    return Post("/oauth/token", body, Basic("client", "secret"));
  }
  httplib::Result Revoke(const std::string& token,
                         const std::string& authorization = Basic("client",
                                                                  "secret")) {
    return Post("/oauth/revoke", "token=" + FormEncode(token), authorization);
  }
  httplib::Result Ping(const std::string& token) {
    return client->Get("/api/ping", {{"Authorization", "Bearer " + token}});
  }

  FakeMyposServer server;
  int port = 0;
  std::unique_ptr<httplib::Client> client;
};

// The access_token of a success body shaped exactly like RFC 6749 §5.1 with
// the given expires_in JSON and scope; "" if the body has another shape.
std::string TokenOf(const std::string& body, const std::string& expires_in,
                    const std::string& scope) {
  const std::regex shape(
      R"re(\{"access_token":"([A-Za-z0-9_-]{40})","token_type":"Bearer",)re"
      R"re("expires_in":)re" +
      expires_in + R"re(,"scope":")re" + scope + R"re("\})re");
  std::smatch match;
  if (!std::regex_match(body, match, shape)) return "";
  return match[1];
}

// Issues a token for "client" and returns it.
std::string IssueToken(Harness& h) {
  httplib::Result res = h.Token();
  if (!res || res->status != 200) return "";
  return TokenOf(res->body, "3600", "");
}

TEST(FakeMyposServer, TokenRequestReturnsBearerTokenWithNumericExpiresIn) {
  Harness h;
  httplib::Result res = h.Token("grant_type=client_credentials&scope=webhooks");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(res->get_header_value("Cache-Control"), "no-store");
  const std::string token = TokenOf(res->body, "3600", "webhooks");
  ASSERT_FALSE(token.empty()) << res->body;
  EXPECT_TRUE(h.server.IsTokenActive(token));
  EXPECT_FALSE(h.server.IsTokenActive("unknown"));
  EXPECT_EQ(h.server.token_requests(), 1);
  EXPECT_EQ(h.server.last_token_body(),
            "grant_type=client_credentials&scope=webhooks");
  EXPECT_EQ(h.server.last_token_authorization(), "Basic Y2xpZW50OnNlY3JldA==");
}

TEST(FakeMyposServer, TokenRequestSendsExpiresInAsStringWhenConfigured) {
  FakeMyposServer::Options options = DefaultOptions();
  options.expires_in_as_string = true;
  options.token_lifetime = absl::Seconds(90);
  Harness h(std::move(options));
  httplib::Result res = h.Token();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_FALSE(TokenOf(res->body, R"("90")", "").empty()) << res->body;
}

TEST(FakeMyposServer, TokenRequestGrantsDistinctScopesInOrder) {
  Harness h;
  httplib::Result res = h.Token(absl::StrCat(kGrant, "&scope=b+a+b+%21%7E"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_FALSE(TokenOf(res->body, "3600", "b a !~").empty()) << res->body;
}

TEST(FakeMyposServer, TokenRequestAcceptsFormEncodedSpecialCharacters) {
  const std::string id = "id:+&% \xC3\xBC";
  const std::string secret = "s:e+c&r%e t/\xE2\x82\xAC=";
  FakeMyposServer::Options options;
  options.clients = {{id, secret}};
  Harness h(std::move(options));
  const std::string authorization = Basic(id, secret);
  httplib::Result res = h.Post("/oauth/token", kGrant, authorization);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(h.server.last_token_authorization(), authorization);
}

TEST(FakeMyposServer, TokenRequestRejectsCredentialsNotFormEncoded) {
  FakeMyposServer::Options options;
  options.clients = {{"id:x", "a+b"}};
  Harness h(std::move(options));
  httplib::Result res =
      h.Post("/oauth/token", kGrant, "Basic " + absl::Base64Escape("id:x:a+b"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(res->body, R"({"error":"invalid_client"})");
}

TEST(FakeMyposServer, TokenRequestWithWrongSecretIsInvalidClient) {
  Harness h;
  httplib::Result res = h.Post("/oauth/token", kGrant, Basic("client", "nope"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(res->body, R"({"error":"invalid_client"})");
  EXPECT_EQ(res->get_header_value("WWW-Authenticate"),
            R"(Basic realm="myPOS")");
  EXPECT_EQ(h.server.token_requests(), 1);
}

TEST(FakeMyposServer, TokenRequestWithUnknownOrMissingClientIsInvalidClient) {
  Harness h;
  for (const std::string& authorization :
       {Basic("stranger", "secret"), std::string()}) {
    httplib::Result res = h.Post("/oauth/token", kGrant, authorization);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401);
    EXPECT_EQ(res->body, R"({"error":"invalid_client"})");
    EXPECT_EQ(res->get_header_value("WWW-Authenticate"),
              R"(Basic realm="myPOS")");
  }
  EXPECT_EQ(h.server.token_requests(), 2);
}

TEST(FakeMyposServer, TokenRequestWithoutFormContentTypeIsInvalidRequest) {
  Harness h;
  httplib::Result res = h.Post("/oauth/token", kGrant,
                               Basic("client", "secret"), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(res->body, R"({"error":"invalid_request"})");
}

TEST(FakeMyposServer, TokenRequestWithOtherGrantIsUnsupportedGrantType) {
  Harness h;
  httplib::Result res = h.Token("grant_type=password");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(res->body, R"({"error":"unsupported_grant_type"})");
}

TEST(FakeMyposServer, TokenRequestWithoutGrantIsInvalidRequest) {
  Harness h;
  httplib::Result res = h.Token("scope=webhooks");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(res->body, R"({"error":"invalid_request"})");
}

TEST(FakeMyposServer, TokenRequestWithBadScopeCharacterIsInvalidScope) {
  Harness h;
  for (const char* scope : {"a%22b", "a%5Cb", "caf%C3%A9", "a++b"}) {
    httplib::Result res = h.Token(absl::StrCat(kGrant, "&scope=", scope));
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << scope;
    EXPECT_EQ(res->body, R"({"error":"invalid_scope"})") << scope;
  }
}

TEST(FakeMyposServer, PingAcceptsActiveTokenOnly) {
  Harness h;
  const std::string token = IssueToken(h);
  ASSERT_FALSE(token.empty());
  httplib::Result ok = h.Ping(token);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, R"({"ok":true})");
  httplib::Result bad = h.Ping("not-a-token");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 401);
  EXPECT_EQ(bad->body, R"({"error":"invalid_token"})");
}

TEST(FakeMyposServer, TokenWithZeroLifetimeIsExpiredAtOnce) {
  FakeMyposServer::Options options = DefaultOptions();
  options.token_lifetime = absl::ZeroDuration();
  Harness h(std::move(options));
  httplib::Result res = h.Token();
  ASSERT_TRUE(res);
  const std::string token = TokenOf(res->body, "0", "");
  ASSERT_FALSE(token.empty()) << res->body;
  EXPECT_FALSE(h.server.IsTokenActive(token));
  httplib::Result ping = h.Ping(token);
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->status, 401);
}

TEST(FakeMyposServer, RevokeMarksTokenInactive) {
  Harness h;
  const std::string token = IssueToken(h);
  ASSERT_FALSE(token.empty());
  httplib::Result res = h.Revoke(token);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_FALSE(h.server.IsTokenActive(token));
  EXPECT_THAT(h.server.revoked_tokens(), ElementsAre(token));
  EXPECT_EQ(h.server.last_revoke_client_id(), "client");
  EXPECT_EQ(h.server.revoke_requests(), 1);
  httplib::Result ping = h.Ping(token);
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->status, 401);
  EXPECT_EQ(ping->body, R"({"error":"invalid_token"})");
}

TEST(FakeMyposServer, RevokeOfUnknownTokenSucceeds) {
  Harness h;
  httplib::Result res = h.Revoke("never-issued");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_THAT(h.server.revoked_tokens(), IsEmpty());
}

TEST(FakeMyposServer, RevokeWithoutTokenIsInvalidRequest) {
  Harness h;
  httplib::Result res = h.Post("/oauth/revoke", "token_type_hint=access_token",
                               Basic("client", "secret"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(res->body, R"({"error":"invalid_request"})");
}

TEST(FakeMyposServer, RevokeWithWrongSecretIsInvalidClient) {
  Harness h;
  const std::string token = IssueToken(h);
  httplib::Result res = h.Revoke(token, Basic("client", "wrong"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  EXPECT_EQ(res->body, R"({"error":"invalid_client"})");
  EXPECT_TRUE(h.server.IsTokenActive(token));
  EXPECT_EQ(h.server.revoke_requests(), 1);
}

TEST(FakeMyposServer, RevokeOfAnotherClientsTokenIsRefused) {
  Harness h;
  const std::string token = IssueToken(h);
  httplib::Result res = h.Revoke(token, Basic("other", "other-secret"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(res->body, R"({"error":"unauthorized_client"})");
  EXPECT_TRUE(h.server.IsTokenActive(token));
  EXPECT_EQ(h.server.last_revoke_client_id(), "other");
}

TEST(FakeMyposServer, TokenFaultsAreRepliedInOrderThenNormalHandling) {
  Harness h;
  h.server.EnqueueTokenFault(
      {503, "", {{"Retry-After", "7"}}, absl::ZeroDuration()});
  h.server.EnqueueTokenFault(
      {429, R"({"error":"slow_down"})", {}, absl::ZeroDuration()});
  httplib::Result first = h.Token();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 503);
  EXPECT_EQ(first->get_header_value("Retry-After"), "7");
  EXPECT_EQ(first->body, "");
  httplib::Result second = h.Token();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 429);
  EXPECT_EQ(second->body, R"({"error":"slow_down"})");
  EXPECT_EQ(second->get_header_value("Content-Type"), "application/json");
  httplib::Result third = h.Token();
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 200);
  EXPECT_EQ(h.server.token_requests(), 3);
  EXPECT_EQ(h.server.revoke_requests(), 0);
}

TEST(FakeMyposServer, RevokeFaultLeavesTokenActive) {
  Harness h;
  const std::string token = IssueToken(h);
  h.server.EnqueueRevokeFault({502,
                               "bad gateway",
                               {{"Content-Type", "text/plain"}},
                               absl::ZeroDuration()});
  httplib::Result faulted = h.Revoke(token);
  ASSERT_TRUE(faulted);
  EXPECT_EQ(faulted->status, 502);
  EXPECT_EQ(faulted->body, "bad gateway");
  EXPECT_EQ(faulted->get_header_value("Content-Type"), "text/plain");
  EXPECT_TRUE(h.server.IsTokenActive(token));
  EXPECT_EQ(h.server.last_revoke_client_id(), "client");
  httplib::Result retried = h.Revoke(token);
  ASSERT_TRUE(retried);
  EXPECT_EQ(retried->status, 200);
  EXPECT_THAT(h.server.revoked_tokens(), ElementsAre(token));
  EXPECT_EQ(h.server.revoke_requests(), 2);
  EXPECT_EQ(h.server.token_requests(), 1);
}

TEST(FakeMyposServer, LatencyDelaysOauthReplies) {
  Harness h;
  h.server.SetLatency(absl::Milliseconds(50));
  const absl::Time start = absl::Now();
  httplib::Result res = h.Token();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
}

TEST(FakeMyposServer, LatencyOptionDelaysEveryOauthReply) {
  FakeMyposServer::Options options = DefaultOptions();
  options.latency = absl::Milliseconds(60);
  Harness h(std::move(options));
  absl::Time start = absl::Now();
  httplib::Result token = h.Token();
  ASSERT_TRUE(token);
  EXPECT_EQ(token->status, 200);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(60));
  start = absl::Now();
  httplib::Result revoke = h.Revoke("unknown");
  ASSERT_TRUE(revoke);
  EXPECT_EQ(revoke->status, 200);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(60));
}

// A token request for `scope` on its own connection, in a thread: a request
// that hangs would block the test's own client.
class TokenRequestThread {
 public:
  TokenRequestThread(int port, const std::string& scope)
      : thread_([this, port, scope] {
          httplib::Client client("127.0.0.1", port);
          httplib::Result res = client.Post(
              "/oauth/token", {{"Authorization", Basic("client", "secret")}},
              absl::StrCat(kGrant, "&scope=", FormEncode(scope)), kForm);
          status_ = res ? res->status : -1;
          done_.Notify();
        }) {}
  ~TokenRequestThread() { Join(); }

  bool answered() const { return done_.HasBeenNotified(); }
  // Waits until the request is answered (or its connection ends). A join,
  // not the Notification, so that ThreadSanitizer sees the order: Debian's
  // Abseil is not instrumented.
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  // The reply's status (-1: none), after Join().
  int status() const { return status_; }

 private:
  int status_ = -1;
  absl::Notification done_;
  std::thread thread_;  // last: starts once the fields above exist
};

FakeMyposServer::Options HangOptions() {
  FakeMyposServer::Options options = DefaultOptions();
  options.hang_scope = "hang";
  return options;
}

TEST(FakeMyposServer, HangScopeHoldsRequestUntilStop) {
  Harness h(HangOptions());
  TokenRequestThread hung(h.port, "webhooks hang");
  EXPECT_TRUE(h.server.AwaitHungRequests(1, absl::InfiniteFuture()));
  EXPECT_FALSE(hung.answered());
  EXPECT_EQ(h.server.token_requests(), 1);
  h.client.reset();
  h.server.Stop();  // returns although the request is never answered
  hung.Join();
  EXPECT_EQ(hung.status(), -1);  // the reply is cut off before its body
  EXPECT_EQ(h.server.hung_requests(), 1);
}

TEST(FakeMyposServer, OtherScopesAreAnsweredWhileOneHangs) {
  Harness h(HangOptions());
  TokenRequestThread hung(h.port, "hang");
  ASSERT_TRUE(h.server.AwaitHungRequests(1, absl::InfiniteFuture()));
  // "hanging" is another scope token, not the hang scope.
  httplib::Result res =
      h.Token(absl::StrCat(kGrant, "&scope=", FormEncode("webhooks hanging")));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_FALSE(TokenOf(res->body, "3600", "webhooks hanging").empty())
      << res->body;
  EXPECT_FALSE(hung.answered());
  EXPECT_EQ(h.server.hung_requests(), 1);
  EXPECT_EQ(h.server.token_requests(), 2);
  h.client.reset();
  h.server.Stop();
  hung.Join();
  EXPECT_EQ(hung.status(), -1);
}

TEST(FakeMyposServer, AwaitHungRequestsGivesUpAtDeadline) {
  Harness h(HangOptions());
  ASSERT_TRUE(h.Token());
  EXPECT_FALSE(
      h.server.AwaitHungRequests(1, absl::Now() + absl::Milliseconds(10)));
  EXPECT_EQ(h.server.hung_requests(), 0);
}

TEST(FakeMyposServer, FaultDelayIsWaitedBeforeReplying) {
  Harness h;
  h.server.EnqueueTokenFault({500, "", {}, absl::Milliseconds(80)});
  const absl::Time start = absl::Now();
  httplib::Result res = h.Token();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(80));
}

TEST(FakeMyposServer, StopCutsInjectedDelayShort) {
  Harness h;
  h.server.EnqueueTokenFault({500, "", {}, absl::Hours(1)});
  h.client->set_read_timeout(0, 100 * 1000);  // 100 ms
  httplib::Result res = h.Token();
  EXPECT_EQ(res.error(), httplib::Error::Read);
  // The request was sent before the client gave up, but on a loaded machine
  // (or under TSAN) the server may not have read it yet: wait for that, so
  // that Stop() is known to interrupt a delay in progress.
  h.server.AwaitTokenRequests(1);
  h.client.reset();
  h.server.Stop();  // returns although the handler was told to wait an hour
  EXPECT_EQ(h.server.token_requests(), 1);
}

TEST(FakeMyposServer, KeepAliveRequestsShareOneConnection) {
  Harness h;
  ASSERT_TRUE(h.Token());
  ASSERT_TRUE(h.Ping("x"));
  ASSERT_TRUE(h.Revoke("y"));
  EXPECT_EQ(h.server.connections(), 1);
  httplib::Client second("127.0.0.1", h.port);
  ASSERT_TRUE(second.Get("/api/ping"));
  EXPECT_EQ(h.server.connections(), 2);
}

TEST(FakeMyposServer, StartOnPortZeroTwiceGivesTwoServers) {
  FakeMyposServer first(DefaultOptions());
  FakeMyposServer second(DefaultOptions());
  absl::StatusOr<int> first_port = first.Start();
  absl::StatusOr<int> second_port = second.Start();
  ASSERT_TRUE(first_port.ok()) << first_port.status();
  ASSERT_TRUE(second_port.ok()) << second_port.status();
  EXPECT_GT(*first_port, 0);
  EXPECT_NE(*first_port, *second_port);
  EXPECT_EQ(first.BaseUrl(), absl::StrCat("http://127.0.0.1:", *first_port));
  EXPECT_EQ(second.BaseUrl(), absl::StrCat("http://127.0.0.1:", *second_port));
  httplib::Client client("127.0.0.1", *second_port);
  httplib::Result res = client.Get("/api/ping");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
}

TEST(FakeMyposServer, StartTwiceIsFailedPrecondition) {
  FakeMyposServer server(DefaultOptions());
  ASSERT_TRUE(server.Start().ok());
  EXPECT_EQ(server.Start().status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(FakeMyposServer, StartOnPortInUseIsUnavailable) {
  FakeMyposServer first(DefaultOptions());
  absl::StatusOr<int> port = first.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  FakeMyposServer second(DefaultOptions());
  EXPECT_EQ(second.Start("127.0.0.1", *port).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(FakeMyposServer, StopIsIdempotentAndEndsServing) {
  FakeMyposServer never_started(DefaultOptions());
  never_started.Stop();
  Harness h;
  h.client.reset();
  h.server.Stop();
  h.server.Stop();
  httplib::Client client("127.0.0.1", h.port);
  EXPECT_EQ(client.Get("/api/ping").error(), httplib::Error::Connection);
}

}  // namespace
}  // namespace tokenservice
