#include "fake_mypos/fake_mypos_server.h"

#include <openssl/rand.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "fake_mypos/oauth_reply.h"
#include "fake_mypos/oauth_request.h"

namespace tokenservice {
namespace {

using fake_mypos::WriteError;
using fake_mypos::WriteFault;
using fake_mypos::WriteInvalidClient;
using fake_mypos::WriteInvalidToken;
using fake_mypos::WriteJson;
using fake_mypos::WriteTokenReply;

constexpr int kTokenBytes = 30;        // 40 characters of base64url
constexpr size_t kWorkerThreads = 64;  // each keep-alive connection holds one
constexpr size_t kMaxRequestsPerConnection = 1000;
// httplib's stop() does not wake a worker waiting on an idle keep-alive
// connection, so Stop() waits up to this long for one.
constexpr time_t kKeepAliveTimeoutSeconds = 1;
constexpr size_t kMaxBodyBytes = 64 * 1024;

// A fresh opaque token; empty if the system has no randomness to give.
std::string NewOpaqueToken() {
  unsigned char bytes[kTokenBytes];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return "";
  return absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

// The host part of a URL that reaches a server listening on `host`.
std::string UrlHost(const std::string& host) {
  if (host.empty() || host == "0.0.0.0" || host == "::") return "127.0.0.1";
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]");
  return host;
}

}  // namespace

FakeMyposServer::FakeMyposServer(Options options)
    : options_(std::move(options)) {
  http_.new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  http_.set_keep_alive_max_count(kMaxRequestsPerConnection);
  http_.set_keep_alive_timeout(kKeepAliveTimeoutSeconds);
  http_.set_tcp_nodelay(true);  // replies are written in parts
  http_.set_payload_max_length(kMaxBodyBytes);
  // httplib's default adds SO_REUSEPORT, which would let a second server
  // share a port that is in use instead of failing to start.
  http_.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  http_.set_pre_routing_handler(
      [this](const httplib::Request& req, httplib::Response&) {
        MutexLock lock(&mu_);
        connections_.emplace(req.remote_addr, req.remote_port);
        return httplib::Server::HandlerResponse::Unhandled;
      });
  http_.Post("/oauth/token",
             [this](const httplib::Request& req, httplib::Response& res) {
               HandleToken(req, res);
             });
  http_.Post("/oauth/revoke",
             [this](const httplib::Request& req, httplib::Response& res) {
               HandleRevoke(req, res);
             });
  http_.Get("/api/ping",
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
  const int bound = port == 0 ? http_.bind_to_any_port(host)
                              : (http_.bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    return absl::UnavailableError(
        absl::StrCat("fake myPOS cannot listen on ", host, ":", port));
  }
  started_ = true;
  {
    MutexLock data_lock(&mu_);
    base_url_ = absl::StrCat("http://", UrlHost(host), ":", bound);
  }
  // The socket already listens, so connections queue from here on. Wait for
  // the accept loop too: httplib's stop() only works once it is running, and
  // listen_after_bind() marks it running before anything else.
  thread_ = std::thread([this] { http_.listen_after_bind(); });
  while (!http_.is_running()) absl::SleepFor(absl::Milliseconds(1));
  return bound;
}

void FakeMyposServer::Stop() {
  MutexLock lock(&lifecycle_mu_);
  if (!thread_.joinable()) return;
  stopping_.Notify();
  http_.stop();
  thread_.join();
}

std::string FakeMyposServer::BaseUrl() const {
  MutexLock lock(&mu_);
  return base_url_;
}

void FakeMyposServer::EnqueueTokenFault(Fault fault) {
  MutexLock lock(&mu_);
  token_faults_.push_back(std::move(fault));
}

void FakeMyposServer::EnqueueRevokeFault(Fault fault) {
  MutexLock lock(&mu_);
  revoke_faults_.push_back(std::move(fault));
}

void FakeMyposServer::SetLatency(absl::Duration latency) {
  MutexLock lock(&mu_);
  latency_ = latency;
}

void FakeMyposServer::HandleToken(const httplib::Request& req,
                                  httplib::Response& res) {
  if (ReplyFault(BeginTokenRequest(req), res)) return;
  std::string client_id;
  if (!Authenticate(req, res, &client_id)) return;
  absl::StatusOr<std::map<std::string, std::string>> form =
      fake_mypos::ParseFormBody(req.body);
  if (!form.ok() || form->count("grant_type") == 0) {
    return WriteError(res, 400, "invalid_request");
  }
  if (form->at("grant_type") != "client_credentials") {
    return WriteError(res, 400, "unsupported_grant_type");
  }
  auto scope = form->find("scope");
  absl::StatusOr<std::vector<std::string>> scopes = fake_mypos::ParseScope(
      scope == form->end() ? absl::string_view() : scope->second);
  if (!scopes.ok()) return WriteError(res, 400, "invalid_scope");
  const std::string token = IssueToken(client_id, *scopes);
  if (token.empty()) return WriteError(res, 500, "server_error");
  WriteTokenReply(
      res, token,
      std::max<int64_t>(0, absl::ToInt64Seconds(options_.token_lifetime)),
      options_.expires_in_as_string, *scopes);
}

void FakeMyposServer::HandleRevoke(const httplib::Request& req,
                                   httplib::Response& res) {
  if (ReplyFault(BeginRevokeRequest(req), res)) return;
  std::string client_id;
  if (!Authenticate(req, res, &client_id)) return;
  absl::StatusOr<std::map<std::string, std::string>> form =
      fake_mypos::ParseFormBody(req.body);
  if (!form.ok() || form->count("token") == 0) {
    return WriteError(res, 400, "invalid_request");
  }
  // RFC 7009 §2.1: a client may revoke only its own tokens; an unknown token
  // is not an error (§2.2).
  if (!RevokeToken(client_id, form->at("token"))) {
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

std::optional<FakeMyposServer::Fault> FakeMyposServer::BeginTokenRequest(
    const httplib::Request& req) {
  MutexLock lock(&mu_);
  ++token_requests_;
  last_token_authorization_ = req.get_header_value("Authorization");
  last_token_body_ = req.body;
  if (token_faults_.empty()) return std::nullopt;
  Fault fault = std::move(token_faults_.front());
  token_faults_.pop_front();
  return fault;
}

std::optional<FakeMyposServer::Fault> FakeMyposServer::BeginRevokeRequest(
    const httplib::Request& req) {
  absl::StatusOr<fake_mypos::BasicCredentials> credentials =
      fake_mypos::ParseBasicAuthorization(
          req.get_header_value("Authorization"));
  MutexLock lock(&mu_);
  ++revoke_requests_;
  last_revoke_client_id_ = credentials.ok() ? credentials->client_id : "";
  if (revoke_faults_.empty()) return std::nullopt;
  Fault fault = std::move(revoke_faults_.front());
  revoke_faults_.pop_front();
  return fault;
}

bool FakeMyposServer::ReplyFault(const std::optional<Fault>& fault,
                                 httplib::Response& res) const {
  absl::Duration latency;
  {
    MutexLock lock(&mu_);
    latency = latency_;
  }
  Delay(latency);
  if (!fault) return false;
  Delay(fault->delay);
  WriteFault(res, fault->status, fault->body, fault->headers);
  return true;
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

std::string FakeMyposServer::IssueToken(const std::string& client_id,
                                        std::vector<std::string> scopes) {
  std::string token = NewOpaqueToken();
  if (token.empty()) return token;
  MutexLock lock(&mu_);
  tokens_[token] = IssuedToken{client_id, std::move(scopes), absl::Now()};
  return token;
}

bool FakeMyposServer::RevokeToken(const std::string& client_id,
                                  const std::string& token) {
  MutexLock lock(&mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return true;
  if (it->second.client_id != client_id) return false;
  if (!it->second.revoked) {
    it->second.revoked = true;
    revoked_tokens_.push_back(token);
  }
  return true;
}

bool FakeMyposServer::IsActiveLocked(const std::string& token) const {
  auto it = tokens_.find(token);
  if (it == tokens_.end() || it->second.revoked) return false;
  return absl::Now() < it->second.issue_time + options_.token_lifetime;
}

void FakeMyposServer::Delay(absl::Duration delay) const {
  if (delay > absl::ZeroDuration()) {
    stopping_.WaitForNotificationWithTimeout(delay);
  }
}

int FakeMyposServer::token_requests() const {
  MutexLock lock(&mu_);
  return token_requests_;
}

int FakeMyposServer::revoke_requests() const {
  MutexLock lock(&mu_);
  return revoke_requests_;
}

std::vector<std::string> FakeMyposServer::revoked_tokens() const {
  MutexLock lock(&mu_);
  return revoked_tokens_;
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
  MutexLock lock(&mu_);
  return IsActiveLocked(token);
}

int FakeMyposServer::connections() const {
  MutexLock lock(&mu_);
  return connections_.size();
}

}  // namespace tokenservice
