#include "server/upstream/oauth_form.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tokenservice {

std::string FormUrlEncode(absl::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(byte) || c == '*' || c == '-' || c == '.' ||
        c == '_') {
      out.push_back(c);
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xF]);
    }
  }
  return out;
}

std::string BasicAuthorization(const ClientCredentials& credentials) {
  return absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(
                                    FormUrlEncode(credentials.client_id), ":",
                                    FormUrlEncode(credentials.client_secret))));
}

std::string TokenRequestBody(const std::vector<std::string>& scopes) {
  std::string body = "grant_type=client_credentials";
  if (!scopes.empty()) {
    absl::StrAppend(&body,
                    "&scope=", FormUrlEncode(absl::StrJoin(scopes, " ")));
  }
  return body;
}

std::string GrantRequestBody(const UserGrant& grant) {
  std::string body;
  auto add = [&body](absl::string_view name, absl::string_view value) {
    if (value.empty()) return;
    absl::StrAppend(&body, body.empty() ? "" : "&", name, "=",
                    FormUrlEncode(value));
  };
  if (grant.type == UserGrant::Type::kAuthorizationCode) {
    add("grant_type", "authorization_code");
    add("code", grant.code);
    add("redirect_uri", grant.redirect_uri);
    add("code_verifier", grant.code_verifier);
  } else {
    add("grant_type", "refresh_token");
    add("refresh_token", grant.refresh_token);
    add("scope", absl::StrJoin(grant.scopes, " "));
  }
  return body;
}

std::string RevokeRequestBody(absl::string_view token) {
  return absl::StrCat("token=", FormUrlEncode(token));
}

}  // namespace tokenservice
