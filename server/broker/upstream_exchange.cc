#include "server/broker/upstream_exchange.h"

#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/fingerprint.h"
#include "base/scopes.h"
#include "server/ops/error_reason.h"

namespace tokenservice {
namespace {

// The log events of each kind, on success and on failure.
struct Events {
  const char* ok;
  const char* failed;
  const char* what;  // for the message
};

Events EventsOf(UpstreamKind kind) {
  switch (kind) {
    case UpstreamKind::kToken:
      return {"upstream_token_issued", "upstream_token_failed",
              "token request"};
    case UpstreamKind::kRevoke:
      return {"upstream_token_revoked", "upstream_revoke_failed", "revocation"};
    case UpstreamKind::kGrant:
      return {"upstream_grant_exchanged", "upstream_grant_failed",
              "grant exchange"};
  }
  return {"upstream_request_ok", "upstream_request_failed", "request"};
}

// Whether a failed grant exchange may have reached myPOS: it got no answer
// (a dropped connection, a timeout), or an answer that is no definite "no"
// (a 5xx, an unusable reply). A refusal (429, a rejected grant or client,
// a TLS failure) or a request that was never sent (request_sent=false)
// did not spend the grant.
bool MayHaveReachedMypos(const absl::Status& status) {
  const std::string reason = ErrorReason(status);
  if (reason != kReasonUpstreamUnavailable &&
      reason != kReasonUpstreamBadReply && reason != kReasonDeadlineExceeded &&
      reason != kReasonServerShuttingDown) {
    return false;
  }
  const std::map<std::string, std::string> metadata = ErrorMetadata(status);
  auto sent = metadata.find(kMetadataRequestSent);
  return sent == metadata.end() || sent->second != "false";
}

const char* GrantName(UserGrant::Type type) {
  return type == UserGrant::Type::kAuthorizationCode ? "authorization_code"
                                                     : "refresh_token";
}

}  // namespace

UpstreamExchange::UpstreamExchange(Options options, OAuthClient* upstream,
                                   const Clock* clock, Metrics* metrics)
    : options_(options),
      upstream_(upstream),
      clock_(clock),
      metrics_(metrics) {}

absl::StatusOr<UpstreamExchange::Call> UpstreamExchange::Start(
    UpstreamKind kind, const CredentialProfile& profile,
    absl::Time caller_deadline) const {
  const absl::Time start = clock_->Now();
  absl::StatusOr<ClientCredentials> credentials =
      CredentialStore::Load(profile);
  if (!credentials.ok()) {
    Log(LogLevel::kError, "credentials_unreadable",
        "a profile's client id or secret file cannot be read: no request "
        "to myPOS is made",
        {{"profile", profile.name},
         {"error", std::string(credentials.status().message())}});
    return credentials.status();
  }
  return Call{
      kind, profile.name, start,
      ComputeUpstreamDeadline(start, caller_deadline, options_.upstream_timeout,
                              options_.deadline_margin),
      *std::move(credentials)};
}

absl::Status UpstreamExchange::Finish(const Call& call, absl::Status status,
                                      std::vector<LogField> fields) const {
  // Dropped unsent because nobody wanted it any more: no request was made,
  // so none is counted or logged (the broker counts these).
  if (status.code() == absl::StatusCode::kCancelled) return status;
  status = MapUpstreamDeadline(std::move(status), call.deadline,
                               options_.upstream_timeout);
  const absl::Duration duration = clock_->Now() - call.start;
  metrics_->RecordUpstream(call.kind, call.profile, status.code(), duration);
  fields.insert(fields.begin(),
                {{"profile", call.profile},
                 {"duration_ms", absl::ToInt64Milliseconds(duration)},
                 {"code", absl::StatusCodeToString(status.code())}});
  if (!status.ok()) fields.emplace_back("error", status.message());
  const Events events = EventsOf(call.kind);
  Log(status.ok() ? LogLevel::kInfo : LogLevel::kWarning,
      status.ok() ? events.ok : events.failed,
      absl::StrCat("myPOS ", events.what,
                   status.ok() ? " succeeded" : " failed"),
      fields);
  return status;
}

absl::StatusOr<ExchangedToken> UpstreamExchange::FinishToken(
    const Call& call, absl::StatusOr<UpstreamToken> reply,
    const std::vector<std::string>& requested_scopes,
    std::vector<LogField> fields) const {
  if (!reply.ok()) return Finish(call, reply.status(), std::move(fields));
  const absl::Time end = clock_->Now();
  ExchangedToken result;
  CachedToken& token = result.token;
  token.credential = call.profile;
  token.client_id = call.credentials.client_id;
  token.access_token = std::move(reply->access_token);
  token.token_type = std::move(reply->token_type);
  token.fingerprint = Fingerprint(token.access_token);
  token.scopes =
      reply->scopes.empty() ? requested_scopes : NormalizeScopes(reply->scopes);
  token.issue_time = end;
  token.expire_time = end + reply->expires_in;
  token.upstream_latency = end - call.start;
  result.refresh_token = std::move(reply->refresh_token);
  fields.emplace_back("fingerprint", token.fingerprint);
  fields.emplace_back("expires_in_s", absl::ToInt64Seconds(reply->expires_in));
  if (call.kind == UpstreamKind::kGrant) {
    fields.emplace_back("refresh_token", !result.refresh_token.empty());
  }
  Finish(call, absl::OkStatus(), std::move(fields)).IgnoreError();
  return result;
}

RequestOptions UpstreamExchange::OptionsFor(
    const Call& call, Lane lane, std::function<bool()> wanted) const {
  RequestOptions options;
  options.deadline = call.deadline.time;
  options.lane = lane;
  options.wanted = std::move(wanted);
  return options;
}

void UpstreamExchange::FetchToken(const CredentialProfile& profile,
                                  const std::vector<std::string>& scopes,
                                  Lane lane, std::function<bool()> wanted,
                                  TokenDone done) const {
  absl::StatusOr<Call> call =
      Start(UpstreamKind::kToken, profile, absl::InfiniteFuture());
  if (!call.ok()) {
    std::move(done)(call.status());
    return;
  }
  const RequestOptions options = OptionsFor(*call, lane, std::move(wanted));
  const ClientCredentials credentials = call->credentials;
  upstream_->FetchToken(
      credentials, scopes, options,
      [this, call = *std::move(call), scopes,
       done = std::move(done)](absl::StatusOr<UpstreamToken> reply) mutable {
        std::move(done)(FinishToken(call, std::move(reply), scopes, {}));
      });
}

void UpstreamExchange::ExchangeGrant(const CredentialProfile& profile,
                                     const UserGrant& grant,
                                     absl::Time caller_deadline,
                                     TokenDone done) const {
  absl::StatusOr<Call> call =
      Start(UpstreamKind::kGrant, profile, caller_deadline);
  if (!call.ok()) {
    std::move(done)(call.status());
    return;
  }
  const RequestOptions options = OptionsFor(*call, Lane::kCaller, nullptr);
  const ClientCredentials credentials = call->credentials;
  upstream_->ExchangeGrant(
      credentials, grant, options,
      [this, call = *std::move(call), scopes = grant.scopes, type = grant.type,
       done = std::move(done)](absl::StatusOr<UpstreamToken> reply) mutable {
        if (!reply.ok() && MayHaveReachedMypos(reply.status())) {
          // Not UNAVAILABLE: a retry policy would send the grant again.
          reply = WithReason(
              absl::UnknownError(absl::StrCat(
                  "myPOS may have received the grant exchange but gave no "
                  "usable answer (",
                  reply.status().message(),
                  "); the grant may be spent: do not send it again")),
              kReasonUpstreamOutcomeUnknown);
        }
        std::move(done)(FinishToken(call, std::move(reply), scopes,
                                    {{"grant_type", GrantName(type)}}));
      });
}

void UpstreamExchange::RevokeToken(const CredentialProfile& profile,
                                   absl::string_view token,
                                   absl::string_view fingerprint,
                                   absl::Time caller_deadline,
                                   RevokeDone done) const {
  absl::StatusOr<Call> call =
      Start(UpstreamKind::kRevoke, profile, caller_deadline);
  if (!call.ok()) {
    std::move(done)(call.status());
    return;
  }
  const RequestOptions options = OptionsFor(*call, Lane::kReserved, nullptr);
  const ClientCredentials credentials = call->credentials;
  upstream_->RevokeToken(
      credentials, token, options,
      [this, call = *std::move(call), fingerprint = std::string(fingerprint),
       done = std::move(done)](absl::Status status) mutable {
        status =
            Finish(call, std::move(status), {{"fingerprint", fingerprint}});
        if (!status.ok()) {
          std::move(done)(std::move(status));
          return;
        }
        std::move(done)(std::move(call.credentials.client_id));
      });
}

}  // namespace tokenservice
