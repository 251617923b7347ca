#include "fake_mypos/fake_mypos_server.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "fake_mypos/http_server_factory.h"
#include "fake_mypos/oauth_reply.h"
#include "fake_mypos/oauth_request.h"

namespace tokenservice {
namespace {

using fake_mypos::WriteError;
using fake_mypos::WriteInvalidClient;
using fake_mypos::WriteInvalidToken;
using fake_mypos::WriteJson;
using fake_mypos::WriteTokenReply;

// The host part of a URL that reaches a server listening on `host`.
std::string UrlHost(const std::string& host) {
  if (host.empty() || host == "0.0.0.0" || host == "::") return "127.0.0.1";
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]");
  return host;
}

}  // namespace

FakeMyposServer::FakeMyposServer(Options options)
    : options_(std::move(options)),
      http_(fake_mypos::MakeHttpServer(
          options_.tls_cert_file, options_.tls_key_file,
          static_cast<size_t>(std::max(1, options_.worker_threads)),
          &accepted_)),
      ledger_(options_.token_lifetime) {
  faults_.SetLatency(options_.latency);
  http_->new_task_queue = [this, make = http_->new_task_queue] {
    httplib::TaskQueue* queue = make();  // starts the workers
    workers_started_.Notify();
    return queue;
  };
  http_->set_pre_routing_handler(
      [this](const httplib::Request& req, httplib::Response&) {
        MutexLock lock(&mu_);
        connections_.emplace(req.remote_addr, req.remote_port);
        return httplib::Server::HandlerResponse::Unhandled;
      });
  http_->Post("/oauth/token",
              [this](const httplib::Request& req, httplib::Response& res) {
                HandleToken(req, res);
              });
  http_->Post("/oauth/revoke",
              [this](const httplib::Request& req, httplib::Response& res) {
                HandleRevoke(req, res);
              });
  http_->Get("/api/ping",
             [this](const httplib::Request& req, httplib::Response& res) {
               HandlePing(req, res);
             });
}

FakeMyposServer::~FakeMyposServer() { Stop(); }

absl::StatusOr<int> FakeMyposServer::Start(const std::string& host, int port) {
  MutexLock lock(&lifecycle_mu_);
  if (started_) {
    return absl::FailedPreconditionError("FakeMyposServer already started");
  }
  if (!http_->is_valid()) {
    return absl::FailedPreconditionError(
        "fake myPOS cannot use its TLS certificate or key");
  }
  const int bound = fake_mypos::Bind(*http_, host, port);
  if (bound < 0) {
    return absl::UnavailableError(
        absl::StrCat("fake myPOS cannot listen on ", host, ":", port));
  }
  started_ = true;
  {
    MutexLock data_lock(&mu_);
    base_url_ = absl::StrCat(options_.tls_cert_file.empty() ? "http" : "https",
                             "://", UrlHost(host), ":", bound);
  }
  // The socket already listens, so connections queue from here on. Wait for
  // the accept loop too: httplib's stop() only works once it is running.
  // listen_after_bind() marks it running before anything else, then makes
  // the thread pool, so once the pool exists both hold.
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  workers_started_.WaitForNotification();
  return bound;
}

void FakeMyposServer::Stop() {
  MutexLock lock(&lifecycle_mu_);
  if (!thread_.joinable()) return;
  faults_.Stop();
  http_->stop();
  thread_.join();
}

std::string FakeMyposServer::BaseUrl() const {
  MutexLock lock(&mu_);
  return base_url_;
}

void FakeMyposServer::EnqueueTokenFault(Fault fault) {
  faults_.Enqueue(fake_mypos::Endpoint::kToken, std::move(fault));
}

void FakeMyposServer::EnqueueRevokeFault(Fault fault) {
  faults_.Enqueue(fake_mypos::Endpoint::kRevoke, std::move(fault));
}

void FakeMyposServer::SetLatency(absl::Duration latency) {
  faults_.SetLatency(latency);
}

std::string FakeMyposServer::IssueAuthorizationCode(
    const std::string& client_id, const std::string& redirect_uri,
    const std::string& code_challenge, std::vector<std::string> scopes) {
  return grants_.IssueCode(client_id, redirect_uri, code_challenge,
                           std::move(scopes));
}

void FakeMyposServer::HandleToken(const httplib::Request& req,
                                  httplib::Response& res) {
  BeginTokenRequest(req);
  if (Hangs(req)) return Hang(res);
  if (faults_.Reply(faults_.Next(fake_mypos::Endpoint::kToken), res)) return;
  std::string client_id;
  if (!Authenticate(req, res, &client_id)) return;
  absl::StatusOr<std::map<std::string, std::string>> form =
      fake_mypos::ParseFormBody(req.body);
  if (!form.ok() || form->count("grant_type") == 0) {
    return WriteError(res, 400, "invalid_request");
  }
  std::vector<std::string> scopes;
  bool user_grant = false;
  if (!GrantScopes(client_id, *form, res, &scopes, &user_grant)) return;
  const std::string token = ledger_.Issue(client_id, scopes);
  if (token.empty()) return WriteError(res, 500, "server_error");
  std::string refresh_token;
  if (user_grant) {
    auto given = form->find("refresh_token");
    refresh_token = given != form->end()
                        ? given->second
                        : grants_.IssueRefreshToken(client_id, scopes);
  }
  WriteTokenReply(
      res, token,
      std::max<int64_t>(0, absl::ToInt64Seconds(options_.token_lifetime)),
      options_.expires_in_as_string, scopes, refresh_token);
}

bool FakeMyposServer::GrantScopes(
    const std::string& client_id,
    const std::map<std::string, std::string>& form, httplib::Response& res,
    std::vector<std::string>* scopes, bool* user_grant) {
  const std::string& grant = form.at("grant_type");
  absl::StatusOr<std::vector<std::string>> granted;
  if (grant == "client_credentials") {
    auto scope = form.find("scope");
    granted = fake_mypos::ParseScope(scope == form.end() ? absl::string_view()
                                                         : scope->second);
    if (!granted.ok()) WriteError(res, 400, "invalid_scope");
  } else if (grant == "authorization_code" || grant == "refresh_token") {
    *user_grant = true;
    granted = grants_.Redeem(client_id, form);
    if (!granted.ok()) WriteError(res, 400, "invalid_grant");
  } else {
    WriteError(res, 400, "unsupported_grant_type");
    return false;
  }
  if (!granted.ok()) return false;
  *scopes = *std::move(granted);
  return true;
}

bool FakeMyposServer::Hangs(const httplib::Request& req) const {
  if (options_.hang_scope.empty()) return false;
  absl::StatusOr<std::map<std::string, std::string>> form =
      fake_mypos::ParseFormBody(req.body);
  if (!form.ok()) return false;
  auto grant = form->find("grant_type");
  auto scope = form->find("scope");
  if (grant == form->end() || grant->second != "client_credentials" ||
      scope == form->end()) {
    return false;
  }
  absl::StatusOr<std::vector<std::string>> scopes =
      fake_mypos::ParseScope(scope->second);
  return scopes.ok() && std::find(scopes->begin(), scopes->end(),
                                  options_.hang_scope) != scopes->end();
}

void FakeMyposServer::Hang(httplib::Response& res) {
  {
    MutexLock lock(&mu_);
    ++hung_requests_;
  }
  faults_.AwaitStop();
  // httplib gives a handler no way to close the connection without a reply,
  // so announce one and close before its first byte: no client reads it as
  // an answer.
  fake_mypos::WriteFault(res, 503, R"({"error":"server_error"})", {},
                         size_t{0});
}

void FakeMyposServer::HandleRevoke(const httplib::Request& req,
                                   httplib::Response& res) {
  BeginRevokeRequest(req);
  if (faults_.Reply(faults_.Next(fake_mypos::Endpoint::kRevoke), res)) return;
  std::string client_id;
  if (!Authenticate(req, res, &client_id)) return;
  absl::StatusOr<std::map<std::string, std::string>> form =
      fake_mypos::ParseFormBody(req.body);
  if (!form.ok() || form->count("token") == 0) {
    return WriteError(res, 400, "invalid_request");
  }
  // RFC 7009 §2.1: a client may revoke only its own tokens; an unknown token
  // is not an error (§2.2).
  if (!ledger_.Revoke(client_id, form->at("token"))) {
    return WriteError(res, 400, "unauthorized_client");
  }
  res.status = 200;
}

void FakeMyposServer::HandlePing(const httplib::Request& req,
                                 httplib::Response& res) {
  std::optional<std::string> token = fake_mypos::ParseBearerAuthorization(
      req.get_header_value("Authorization"));
  if (token && IsTokenActive(*token)) {
    return WriteJson(res, 200, R"({"ok":true})");
  }
  WriteInvalidToken(res);
}

void FakeMyposServer::BeginTokenRequest(const httplib::Request& req) {
  MutexLock lock(&mu_);
  ++token_requests_;
  last_token_authorization_ = req.get_header_value("Authorization");
  last_token_body_ = req.body;
}

void FakeMyposServer::BeginRevokeRequest(const httplib::Request& req) {
  absl::StatusOr<fake_mypos::BasicCredentials> credentials =
      fake_mypos::ParseBasicAuthorization(
          req.get_header_value("Authorization"));
  MutexLock lock(&mu_);
  ++revoke_requests_;
  last_revoke_client_id_ = credentials.ok() ? credentials->client_id : "";
}

bool FakeMyposServer::Authenticate(const httplib::Request& req,
                                   httplib::Response& res,
                                   std::string* client_id) const {
  if (!fake_mypos::IsFormUrlEncoded(req.get_header_value("Content-Type"))) {
    WriteError(res, 400, "invalid_request");
    return false;
  }
  absl::StatusOr<fake_mypos::BasicCredentials> credentials =
      fake_mypos::ParseBasicAuthorization(
          req.get_header_value("Authorization"));
  if (!credentials.ok()) {
    WriteInvalidClient(res);
    return false;
  }
  auto client = options_.clients.find(credentials->client_id);
  if (client == options_.clients.end() ||
      client->second != credentials->client_secret) {
    WriteInvalidClient(res);
    return false;
  }
  *client_id = credentials->client_id;
  return true;
}

int FakeMyposServer::token_requests() const {
  MutexLock lock(&mu_);
  return token_requests_;
}

void FakeMyposServer::AwaitTokenRequests(int n) const {
  MutexLock lock(&mu_);
  auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return token_requests_ >= n;
  };
  mu_.Await(absl::Condition(&reached));
}

int FakeMyposServer::hung_requests() const {
  MutexLock lock(&mu_);
  return hung_requests_;
}

bool FakeMyposServer::AwaitHungRequests(int n, absl::Time deadline) const {
  MutexLock lock(&mu_);
  auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return hung_requests_ >= n;
  };
  return mu_.AwaitWithDeadline(absl::Condition(&reached), deadline);
}

int FakeMyposServer::revoke_requests() const {
  MutexLock lock(&mu_);
  return revoke_requests_;
}

std::vector<std::string> FakeMyposServer::revoked_tokens() const {
  return ledger_.revoked();
}

std::string FakeMyposServer::last_revoke_client_id() const {
  MutexLock lock(&mu_);
  return last_revoke_client_id_;
}

std::string FakeMyposServer::last_token_authorization() const {
  MutexLock lock(&mu_);
  return last_token_authorization_;
}

std::string FakeMyposServer::last_token_body() const {
  MutexLock lock(&mu_);
  return last_token_body_;
}

bool FakeMyposServer::IsTokenActive(const std::string& token) const {
  return ledger_.IsActive(token);
}

int FakeMyposServer::connections() const {
  MutexLock lock(&mu_);
  return connections_.size();
}

int FakeMyposServer::tls_handshakes() const {
  return fake_mypos::TlsHandshakes(*http_, !options_.tls_cert_file.empty());
}

}  // namespace tokenservice
