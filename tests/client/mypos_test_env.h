// MyposTestEnv: the real TokenServer on loopback against an in-process fake
// myPOS, for client and example integration tests, plus what those tests do
// behind the service's back: call the myPOS-protected /api/ping with a
// token, and revoke a token at the fake directly (as if myPOS had dropped
// it), so that the next /api/ping answers 401.

#ifndef TESTS_CLIENT_MYPOS_TEST_ENV_H_
#define TESTS_CLIENT_MYPOS_TEST_ENV_H_

#include <httplib.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "fake_mypos/fake_mypos_server.h"
#include "server/token_server.h"

namespace tokenservice {

// Thread-compatible: start, then use from the test's threads (the servers
// themselves are thread-safe).
class MyposTestEnv {
 public:
  static constexpr char kClientId[] = "env-client";
  static constexpr char kCanarySecret[] = "canary-env-secret-2b7e";

  // Starts the fake myPOS and TokenServer (profiles "default" and
  // "second", same client). kUnavailable when either cannot start.
  absl::Status Start() {
    FakeMyposServer::Options fake_options;
    fake_options.clients = {{kClientId, kCanarySecret}};
    fake_ = std::make_unique<FakeMyposServer>(fake_options);
    if (absl::StatusOr<int> port = fake_->Start(); !port.ok()) {
      return port.status();
    }
    ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    config.token_url = fake_->BaseUrl() + "/oauth/token";
    config.revoke_url = fake_->BaseUrl() + "/oauth/revoke";
    config.profiles = {{"default", {kClientId, kCanarySecret}},
                       {"second", {kClientId, kCanarySecret}}};
    config.broker.upstream_timeout = absl::Seconds(5);
    absl::StatusOr<std::unique_ptr<TokenServer>> server =
        TokenServer::Start(config);
    if (!server.ok()) return server.status();
    server_ = *std::move(server);
    return absl::OkStatus();
  }

  // Stops TokenService (the fake keeps running), for UNAVAILABLE tests.
  void StopTokenService() { server_.reset(); }

  std::string target() const {
    return absl::StrCat("127.0.0.1:", server_->port());
  }
  std::string mypos_url() const { return fake_->BaseUrl(); }
  FakeMyposServer& fake() { return *fake_; }

  // The HTTP status of GET /api/ping with `authorization` as header value.
  int Ping(const std::string& authorization) const {
    httplib::Client http(fake_->BaseUrl());
    httplib::Result result =
        http.Get("/api/ping", {{"Authorization", authorization}});
    return result ? result->status : -1;
  }

  // Revokes `token` at the fake directly; TokenService still caches it.
  bool RevokeAtMypos(const std::string& token) const {
    httplib::Client http(fake_->BaseUrl());
    const std::string basic = absl::Base64Escape(
        absl::StrCat(kClientId, ":", kCanarySecret));  // nothing to encode
    httplib::Result result =
        http.Post("/oauth/revoke", {{"Authorization", "Basic " + basic}},
                  "token=" + token, "application/x-www-form-urlencoded");
    return result && result->status == 200;
  }

 private:
  std::unique_ptr<FakeMyposServer> fake_;
  std::unique_ptr<TokenServer> server_;
};

}  // namespace tokenservice

#endif  // TESTS_CLIENT_MYPOS_TEST_ENV_H_
