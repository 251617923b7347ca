#include "server/upstream/oauth_reply.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/ops/error_reason.h"
#include "tests/testing/status_matchers.h"

namespace tokenservice {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// Secrets planted in replies: no status message may contain them.
constexpr char kCanaryToken[] = "CANARY-access-token-7f3a";
constexpr char kCanaryRefresh[] = "CANARY-refresh-token-2c81";
constexpr char kCanaryDescription[] = "CANARY-description-91bd";

// Builds one reply shape: an HTTP status and a JSON object whose fields can
// be set (as a string or raw JSON) and removed.
class ReplyBuilder {
 public:
  // A good token reply: 200, access_token, Bearer, expires_in 3600.
  static ReplyBuilder Token() {
    return ReplyBuilder(200)
        .Set("access_token", kCanaryToken)
        .Set("token_type", "Bearer")
        .SetRaw("expires_in", "3600");
  }
  // An RFC 6749 section 5.2 error reply.
  static ReplyBuilder Error(int status, absl::string_view error) {
    return ReplyBuilder(status)
        .Set("error", error)
        .Set("error_description", kCanaryDescription);
  }
  // A reply whose body is `body` as it is, not JSON.
  static ReplyBuilder Raw(int status, absl::string_view body) {
    ReplyBuilder builder(status);
    builder.raw_body_ = std::string(body);
    return builder;
  }

  ReplyBuilder& Set(absl::string_view key, absl::string_view value) {
    return SetRaw(
        key,
        absl::StrCat(
            "\"", absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\"", "\\\""}}),
            "\""));
  }
  ReplyBuilder& SetRaw(absl::string_view key, absl::string_view json) {
    Remove(key);
    fields_.emplace_back(std::string(key), std::string(json));
    return *this;
  }
  ReplyBuilder& Remove(absl::string_view key) {
    for (auto it = fields_.begin(); it != fields_.end(); ++it) {
      if (it->first == key) {
        fields_.erase(it);
        break;
      }
    }
    return *this;
  }

  int status() const { return status_; }
  std::string Body() const {
    if (raw_body_.has_value()) return *raw_body_;
    return absl::StrCat("{",
                        absl::StrJoin(fields_, ",",
                                      [](std::string* out, const auto& f) {
                                        absl::StrAppend(out, "\"", f.first,
                                                        "\":", f.second);
                                      }),
                        "}");
  }

  absl::StatusOr<UpstreamToken> ParseToken(
      const TokenReplyOptions& options = {}) const {
    return ParseTokenReply(status_, Body(), options);
  }
  absl::Status ParseRevoke() const { return ParseRevokeReply(status_, Body()); }

 private:
  explicit ReplyBuilder(int status) : status_(status) {}

  int status_;
  std::vector<std::pair<std::string, std::string>> fields_;
  absl::optional<std::string> raw_body_;
};

// A status whose message holds none of the canaries.
::testing::Matcher<absl::Status> HasNoCanary() {
  return AllOf(Not(MessageHas(kCanaryToken)), Not(MessageHas(kCanaryRefresh)),
               Not(MessageHas(kCanaryDescription)));
}

TEST(ParseTokenReply, NumberExpiresInReturnsToken) {
  auto token = ReplyBuilder::Token().Set("unknown", "ignored").ParseToken();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->access_token, kCanaryToken);
  EXPECT_EQ(token->token_type, "Bearer");
  EXPECT_EQ(token->expires_in, absl::Seconds(3600));
  EXPECT_THAT(token->scopes, IsEmpty());
  EXPECT_EQ(token->refresh_token, "");
}

TEST(ParseTokenReply, StringExpiresInReturnsToken) {
  auto token = ReplyBuilder::Token().Set("expires_in", "1800").ParseToken();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->expires_in, absl::Seconds(1800));
}

TEST(ParseTokenReply, MissingExpiresInUsesDefault) {
  auto token = ReplyBuilder::Token().Remove("expires_in").ParseToken();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->expires_in, absl::Minutes(5));
}

TEST(ParseTokenReply, MissingExpiresInUsesConfiguredDefault) {
  TokenReplyOptions options;
  options.missing_expires_in = absl::Seconds(90);
  auto token = ReplyBuilder::Token().Remove("expires_in").ParseToken(options);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->expires_in, absl::Seconds(90));
}

TEST(ParseTokenReply, ZeroExpiresInIsBadReply) {
  auto token = ReplyBuilder::Token().SetRaw("expires_in", "0").ParseToken();
  EXPECT_THAT(token.status(), AllOf(StatusIs(absl::StatusCode::kUnavailable,
                                             "UPSTREAM_BAD_REPLY"),
                                    HasNoCanary()));
}

TEST(ParseTokenReply, NegativeExpiresInIsBadReply) {
  auto token = ReplyBuilder::Token().Set("expires_in", "-60").ParseToken();
  EXPECT_THAT(token.status(), AllOf(StatusIs(absl::StatusCode::kUnavailable,
                                             "UPSTREAM_BAD_REPLY"),
                                    HasNoCanary()));
}

TEST(ParseTokenReply, MissingAccessTokenIsBadReply) {
  auto token = ReplyBuilder::Token().Remove("access_token").ParseToken();
  EXPECT_THAT(token.status(), AllOf(StatusIs(absl::StatusCode::kUnavailable,
                                             "UPSTREAM_BAD_REPLY"),
                                    HasNoCanary()));
  EXPECT_EQ(token.status().message(),
            "myPOS token reply (HTTP 200) has no access_token");
}

TEST(ParseTokenReply, EmptyAccessTokenIsBadReply) {
  auto token = ReplyBuilder::Token().Set("access_token", "").ParseToken();
  EXPECT_THAT(token.status(), AllOf(StatusIs(absl::StatusCode::kUnavailable,
                                             "UPSTREAM_BAD_REPLY"),
                                    HasNoCanary()));
}

// A value a caller would put into an Authorization header unchecked: each
// is no usable token, and the status shows no part of it.
struct UnsafeValue {
  const char* field;
  const char* json;      // as sent
  const char* fragment;  // a part of it that must not be echoed
};

TEST(ParseTokenReply, ValuesUnsafeToHandOnAreBadReplies) {
  const std::string long_token(kMaxAccessTokenLength + 1, 'a');
  const UnsafeValue cases[] = {
      {"access_token", R"("CANARY-tok with-space")", "tok with"},
      {"access_token", R"("CANARY-tok\u0000nul")", "nul"},
      {"access_token", R"("CANARY-tok\nnewline")", "newline"},
      {"access_token", R"("CANARY=padding-first")", "padding-first"},
      {"token_type", R"("Bearer\r\nX: y")", "X: y"},
      {"token_type", R"("Bear er")", "Bear er"},
      {"scope", R"("webhooks a\u0000b")", "webhooks"},
      {"scope", R"("webhooks\nX-Injected")", "X-Injected"},
      {"scope", R"("a\"b")", "a\"b"},
      {"refresh_token", R"("CANARY-refresh\r\nX: y")", "X: y"},
      {"refresh_token", R"("CANARY-refresh with-space")", "with-space"},
  };
  for (const UnsafeValue& c : cases) {
    auto token = ReplyBuilder::Token().SetRaw(c.field, c.json).ParseToken();
    EXPECT_THAT(
        token.status(),
        AllOf(StatusIs(absl::StatusCode::kUnavailable, "UPSTREAM_BAD_REPLY"),
              Not(MessageHas(c.fragment)), HasNoCanary()))
        << c.field;
  }
  auto too_long =
      ReplyBuilder::Token().Set("access_token", long_token).ParseToken();
  EXPECT_THAT(
      too_long.status(),
      AllOf(StatusIs(absl::StatusCode::kUnavailable, "UPSTREAM_BAD_REPLY"),
            Not(MessageHas(long_token.substr(0, 64)))));
}

TEST(ParseTokenReply, B64TokenWithPaddingAndLongestTokenAreAccepted) {
  auto padded =
      ReplyBuilder::Token().Set("access_token", "a.b_c~d+e/f-0==").ParseToken();
  ASSERT_TRUE(padded.ok()) << padded.status();
  EXPECT_EQ(padded->access_token, "a.b_c~d+e/f-0==");
  auto longest =
      ReplyBuilder::Token()
          .Set("access_token", std::string(kMaxAccessTokenLength, 'a'))
          .ParseToken();
  EXPECT_TRUE(longest.ok()) << longest.status();
}

TEST(ParseTokenReply, ExpiresInBeyondTheMaximumLifetimeIsBadReply) {
  // Clamped, a token of 1e12 s would never be refreshed.
  auto token =
      ReplyBuilder::Token().SetRaw("expires_in", "1000000000000").ParseToken();
  EXPECT_THAT(token.status(),
              StatusIs(absl::StatusCode::kUnavailable, "UPSTREAM_BAD_REPLY"));
  TokenReplyOptions options;
  options.max_expires_in = absl::Hours(1);
  EXPECT_THAT(
      ReplyBuilder::Token().SetRaw("expires_in", "3601").ParseToken(options),
      StatusIs(absl::StatusCode::kUnavailable, "UPSTREAM_BAD_REPLY"));
  EXPECT_TRUE(ReplyBuilder::Token()
                  .SetRaw("expires_in", "3600")
                  .ParseToken(options)
                  .ok());
}

TEST(ParseTokenReply, LowerCaseTokenTypeNormalised) {
  for (const char* type : {"bearer", "BEARER", "bEaReR"}) {
    auto token = ReplyBuilder::Token().Set("token_type", type).ParseToken();
    ASSERT_TRUE(token.ok()) << token.status();
    EXPECT_EQ(token->token_type, "Bearer") << type;
  }
}

TEST(ParseTokenReply, MissingTokenTypeIsBearer) {
  auto token = ReplyBuilder::Token().Remove("token_type").ParseToken();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->token_type, "Bearer");
}

TEST(ParseTokenReply, ScopeSplitOnSpaces) {
  auto token = ReplyBuilder::Token()
                   .Set("scope", " webhooks  payments ")
                   .Set("refresh_token", kCanaryRefresh)
                   .ParseToken();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_THAT(token->scopes, ElementsAre("webhooks", "payments"));
  EXPECT_EQ(token->refresh_token, kCanaryRefresh);
}

TEST(ParseTokenReply, InvalidClient400IsCredentialsRejected) {
  auto token = ReplyBuilder::Error(400, "invalid_client").ParseToken();
  EXPECT_THAT(token.status(),
              AllOf(StatusIs(absl::StatusCode::kFailedPrecondition,
                             "CREDENTIALS_REJECTED"),
                    HasNoCanary()));
  EXPECT_EQ(token.status().message(),
            "myPOS rejected the client credentials (invalid_client, HTTP 400)");
}

TEST(ParseTokenReply, UnauthorizedClient400IsUnauthorizedClient) {
  auto token = ReplyBuilder::Error(400, "unauthorized_client").ParseToken();
  EXPECT_THAT(token.status(),
              AllOf(StatusIs(absl::StatusCode::kFailedPrecondition,
                             "UNAUTHORIZED_CLIENT"),
                    HasNoCanary()));
}

TEST(ParseTokenReply, Unauthorized401WithoutBodyIsCredentialsRejected) {
  auto token = ReplyBuilder::Raw(401, "").ParseToken();
  EXPECT_THAT(token.status(),
              AllOf(StatusIs(absl::StatusCode::kFailedPrecondition,
                             "CREDENTIALS_REJECTED"),
                    HasNoCanary()));
  EXPECT_THAT(token.status().message(), HasSubstr("HTTP 401"));
}

TEST(ParseTokenReply, InvalidScopeIsInvalidArgument) {
  auto token = ReplyBuilder::Error(400, "invalid_scope").ParseToken();
  EXPECT_THAT(token.status(), AllOf(StatusIs(absl::StatusCode::kInvalidArgument,
                                             "INVALID_SCOPE"),
                                    HasNoCanary()));
  EXPECT_THAT(token.status().message(), HasSubstr("invalid_scope"));
}

TEST(ParseTokenReply, InvalidRequestIsBadRequest) {
  auto token = ReplyBuilder::Error(400, "invalid_request").ParseToken();
  EXPECT_THAT(token.status(),
              AllOf(StatusIs(absl::StatusCode::kInternal, "BAD_REQUEST"),
                    HasNoCanary()));
  EXPECT_EQ(token.status().message(),
            "myPOS rejected the token request (invalid_request, HTTP 400)");
}

TEST(ParseTokenReply, InvalidGrantIsInvalidGrant) {
  auto token = ReplyBuilder::Error(400, "invalid_grant").ParseToken();
  EXPECT_THAT(token.status(), AllOf(StatusIs(absl::StatusCode::kInvalidArgument,
                                             "INVALID_GRANT"),
                                    HasNoCanary()));
  EXPECT_EQ(token.status().message(),
            "myPOS rejected the authorization grant (invalid_grant, HTTP 400)");
}

TEST(ParseTokenReply, OtherOAuthErrorsAreBadRequest) {
  for (const char* error : {"unsupported_grant_type", "invalid_request"}) {
    auto token = ReplyBuilder::Error(400, error).ParseToken();
    EXPECT_THAT(token.status(),
                AllOf(StatusIs(absl::StatusCode::kInternal, "BAD_REQUEST"),
                      HasNoCanary()));
    EXPECT_THAT(token.status().message(), HasSubstr(error));
  }
}

TEST(ParseTokenReply, Forbidden403HtmlIsBadRequest) {
  auto token = ReplyBuilder::Raw(403, "<html>Forbidden</html>").ParseToken();
  EXPECT_THAT(token.status(),
              AllOf(StatusIs(absl::StatusCode::kInternal, "BAD_REQUEST"),
                    HasNoCanary()));
  EXPECT_THAT(token.status().message(), Not(HasSubstr("Forbidden")));
}

TEST(ParseTokenReply, RequestTimeout408IsUnavailable) {
  auto token = ReplyBuilder::Raw(408, "").ParseToken();
  EXPECT_THAT(token.status(), AllOf(StatusIs(absl::StatusCode::kUnavailable,
                                             "UPSTREAM_UNAVAILABLE"),
                                    HasNoCanary()));
}

TEST(ParseTokenReply, ServerError500IsUnavailable) {
  auto token = ReplyBuilder::Error(500, "server_error").ParseToken();
  EXPECT_THAT(token.status(), AllOf(StatusIs(absl::StatusCode::kUnavailable,
                                             "UPSTREAM_UNAVAILABLE"),
                                    HasNoCanary()));
  EXPECT_THAT(token.status().message(), HasSubstr("HTTP 500"));
}

TEST(ParseTokenReply, ServiceUnavailable503IsUnavailable) {
  auto token = ReplyBuilder::Raw(503, "").ParseToken();
  EXPECT_THAT(token.status(), AllOf(StatusIs(absl::StatusCode::kUnavailable,
                                             "UPSTREAM_UNAVAILABLE"),
                                    HasNoCanary()));
  EXPECT_THAT(token.status().message(), HasSubstr("HTTP 503"));
}

TEST(ParseTokenReply, TooManyRequests429IsRateLimited) {
  auto token = ReplyBuilder::Raw(429, "slow down").ParseToken();
  EXPECT_THAT(token.status(), AllOf(StatusIs(absl::StatusCode::kUnavailable,
                                             "UPSTREAM_RATE_LIMITED"),
                                    HasNoCanary()));
  EXPECT_THAT(token.status().message(), HasSubstr("HTTP 429"));
}

TEST(ParseTokenReply, HtmlBadGateway502IsUnavailable) {
  auto token =
      ReplyBuilder::Raw(502, absl::StrCat("<html><body>Bad Gateway ",
                                          kCanaryDescription, "</body></html>"))
          .ParseToken();
  EXPECT_THAT(token.status(), AllOf(StatusIs(absl::StatusCode::kUnavailable,
                                             "UPSTREAM_UNAVAILABLE"),
                                    HasNoCanary()));
  EXPECT_THAT(token.status().message(), HasSubstr("HTTP 502"));
}

TEST(ParseTokenReply, Redirect302IsBadReply) {
  auto token = ReplyBuilder::Raw(302, "").ParseToken();
  EXPECT_THAT(token.status(), AllOf(StatusIs(absl::StatusCode::kUnavailable,
                                             "UPSTREAM_BAD_REPLY"),
                                    HasNoCanary()));
}

TEST(ParseTokenReply, NonJson200IsBadReply) {
  auto token =
      ReplyBuilder::Raw(200, absl::StrCat("access_token=", kCanaryToken))
          .ParseToken();
  EXPECT_THAT(token.status(), AllOf(StatusIs(absl::StatusCode::kUnavailable,
                                             "UPSTREAM_BAD_REPLY"),
                                    HasNoCanary()));
  EXPECT_THAT(token.status().message(), HasSubstr("HTTP 200"));
}

TEST(ParseTokenReply, Html200IsBadReply) {
  auto token = ReplyBuilder::Raw(200, "<html>Maintenance</html>").ParseToken();
  EXPECT_THAT(token.status(), AllOf(StatusIs(absl::StatusCode::kUnavailable,
                                             "UPSTREAM_BAD_REPLY"),
                                    HasNoCanary()));
}

TEST(ParseTokenReply, Empty200IsBadReply) {
  auto token = ReplyBuilder::Raw(200, "").ParseToken();
  EXPECT_THAT(token.status(), AllOf(StatusIs(absl::StatusCode::kUnavailable,
                                             "UPSTREAM_BAD_REPLY"),
                                    HasNoCanary()));
}

TEST(ParseTokenReply, ErrorObjectWith200IsBadReply) {
  auto token = ReplyBuilder::Error(200, "invalid_client").ParseToken();
  EXPECT_THAT(token.status(), AllOf(StatusIs(absl::StatusCode::kUnavailable,
                                             "UPSTREAM_BAD_REPLY"),
                                    HasNoCanary()));
}

TEST(ParseTokenReply, HostileErrorValueNotEchoed) {
  const std::string too_long(65, 'a');
  for (const std::string& error :
       {std::string("<script>x</script>"), std::string("bad\nInjected: yes"),
        std::string("invalid client"), too_long}) {
    auto token = ReplyBuilder::Error(400, error).ParseToken();
    EXPECT_THAT(token.status(),
                AllOf(StatusIs(absl::StatusCode::kInternal, "BAD_REQUEST"),
                      HasNoCanary()));
    EXPECT_EQ(
        token.status().message(),
        "myPOS rejected the token request (unrecognised error, HTTP 400)");
  }
}

TEST(ParseTokenReply, CanariesNeverInMessage) {
  // Error replies that also carry a token and a description: the message
  // names the status and error code only.
  for (int status : {400, 401, 403, 429, 500}) {
    auto token = ReplyBuilder::Error(status, "invalid_request")
                     .Set("access_token", kCanaryToken)
                     .Set("refresh_token", kCanaryRefresh)
                     .ParseToken();
    ASSERT_FALSE(token.ok());
    EXPECT_THAT(std::string(token.status().message()),
                Not(HasSubstr("CANARY")));
  }
  auto bad = ReplyBuilder::Token().SetRaw("expires_in", "-1").ParseToken();
  EXPECT_THAT(std::string(bad.status().message()), Not(HasSubstr("CANARY")));
}

TEST(ParseRevokeReply, Ok200WithAnyBody) {
  EXPECT_TRUE(ReplyBuilder::Raw(200, "").ParseRevoke().ok());
  EXPECT_TRUE(ReplyBuilder::Raw(200, "<html>ok</html>").ParseRevoke().ok());
  EXPECT_TRUE(ReplyBuilder::Error(200, "invalid_request").ParseRevoke().ok());
}

TEST(ParseRevokeReply, UnsupportedTokenType400IsBadRequest) {
  absl::Status status =
      ReplyBuilder::Error(400, "unsupported_token_type").ParseRevoke();
  EXPECT_THAT(status,
              AllOf(StatusIs(absl::StatusCode::kInternal, "BAD_REQUEST"),
                    HasNoCanary()));
  EXPECT_EQ(status.message(),
            "myPOS rejected the revocation request (unsupported_token_type, "
            "HTTP 400)");
}

TEST(ParseRevokeReply, InvalidClient401IsCredentialsRejected) {
  EXPECT_THAT(ReplyBuilder::Error(401, "invalid_client").ParseRevoke(),
              AllOf(StatusIs(absl::StatusCode::kFailedPrecondition,
                             "CREDENTIALS_REJECTED"),
                    HasNoCanary()));
}

TEST(ParseRevokeReply, ServiceUnavailable503IsUnavailable) {
  absl::Status status = ReplyBuilder::Raw(503, "").ParseRevoke();
  EXPECT_THAT(status, AllOf(StatusIs(absl::StatusCode::kUnavailable,
                                     "UPSTREAM_UNAVAILABLE"),
                            HasNoCanary()));
  EXPECT_THAT(std::string(status.message()), HasSubstr("HTTP 503"));
}

}  // namespace
}  // namespace tokenservice
