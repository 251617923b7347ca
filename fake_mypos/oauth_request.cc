#include "fake_mypos/oauth_request.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tokenservice {
namespace fake_mypos {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Splits "Scheme credentials" and returns the credentials when the scheme
// matches `scheme` without case; nullopt otherwise.
std::optional<absl::string_view> StripScheme(absl::string_view header,
                                             absl::string_view scheme) {
  header = absl::StripAsciiWhitespace(header);
  const size_t space = header.find(' ');
  if (space == absl::string_view::npos) return std::nullopt;
  if (!absl::EqualsIgnoreCase(header.substr(0, space), scheme)) {
    return std::nullopt;
  }
  absl::string_view rest = absl::StripAsciiWhitespace(header.substr(space));
  if (rest.empty()) return std::nullopt;
  return rest;
}

bool IsScopeChar(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return u == 0x21 || (u >= 0x23 && u <= 0x5B) || (u >= 0x5D && u <= 0x7E);
}

}  // namespace

std::optional<std::string> FormUrlDecode(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c != '%') {
      out.push_back(c);
    } else {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = HexValue(text[i + 1]);
      const int lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    }
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> ParseFormBody(
    absl::string_view body) {
  std::map<std::string, std::string> params;
  for (absl::string_view pair : absl::StrSplit(body, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    std::optional<std::string> name = FormUrlDecode(kv.first);
    std::optional<std::string> value = FormUrlDecode(kv.second);
    if (!name || !value) {
      return absl::InvalidArgumentError("bad percent-escape in form body");
    }
    if (value->empty()) continue;
    if (!params.emplace(*std::move(name), *std::move(value)).second) {
      return absl::InvalidArgumentError("form parameter repeated");
    }
  }
  return params;
}

bool IsFormUrlEncoded(absl::string_view content_type) {
  absl::string_view media = content_type.substr(0, content_type.find(';'));
  return absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(media),
                                "application/x-www-form-urlencoded");
}

absl::StatusOr<BasicCredentials> ParseBasicAuthorization(
    absl::string_view header) {
  std::optional<absl::string_view> encoded = StripScheme(header, "Basic");
  if (!encoded) {
    return absl::UnauthenticatedError("no Basic authorization");
  }
  std::string decoded;
  if (!absl::Base64Unescape(*encoded, &decoded)) {
    return absl::UnauthenticatedError("Basic credentials are not base64");
  }
  const size_t colon = decoded.find(':');
  if (colon == std::string::npos) {
    return absl::UnauthenticatedError("Basic credentials have no ':'");
  }
  std::optional<std::string> id = FormUrlDecode(decoded.substr(0, colon));
  std::optional<std::string> secret = FormUrlDecode(decoded.substr(colon + 1));
  if (!id || !secret) {
    return absl::UnauthenticatedError("bad percent-escape in credentials");
  }
  return BasicCredentials{*std::move(id), *std::move(secret)};
}

std::optional<std::string> ParseBearerAuthorization(absl::string_view header) {
  std::optional<absl::string_view> token = StripScheme(header, "Bearer");
  if (!token) return std::nullopt;
  return std::string(*token);
}

absl::StatusOr<std::vector<std::string>> ParseScope(absl::string_view scope) {
  std::vector<std::string> scopes;
  if (scope.empty()) return scopes;
  for (absl::string_view token : absl::StrSplit(scope, ' ')) {
    if (token.empty() ||
        !std::all_of(token.begin(), token.end(), IsScopeChar)) {
      return absl::InvalidArgumentError("bad scope token");
    }
    if (std::find(scopes.begin(), scopes.end(), token) == scopes.end()) {
      scopes.emplace_back(token);
    }
  }
  return scopes;
}

}  // namespace fake_mypos
}  // namespace tokenservice
