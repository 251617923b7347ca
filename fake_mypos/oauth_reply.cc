#include "fake_mypos/oauth_reply.h"

#include <algorithm>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tokenservice {
namespace fake_mypos {
namespace {

constexpr char kJson[] = "application/json";

}  // namespace

void WriteJson(httplib::Response& res, int status, const std::string& json) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_header("Pragma", "no-cache");
  res.set_content(json, kJson);
}

void WriteError(httplib::Response& res, int status, absl::string_view error) {
  WriteJson(res, status, absl::StrCat(R"({"error":")", error, R"("})"));
}

void WriteInvalidClient(httplib::Response& res) {
  res.set_header("WWW-Authenticate", R"(Basic realm="myPOS")");
  WriteError(res, 401, "invalid_client");
}

void WriteInvalidToken(httplib::Response& res) {
  res.set_header("WWW-Authenticate", R"(Bearer error="invalid_token")");
  WriteError(res, 401, "invalid_token");
}

void WriteTokenReply(httplib::Response& res, const std::string& token,
                     int64_t expires_in, bool expires_in_as_string,
                     const std::vector<std::string>& scopes,
                     const std::string& refresh_token) {
  const std::string expires = expires_in_as_string
                                  ? absl::StrCat("\"", expires_in, "\"")
                                  : absl::StrCat(expires_in);
  WriteJson(
      res, 200,
      absl::StrCat(R"({"access_token":")", token,
                   R"(","token_type":"Bearer","expires_in":)", expires,
                   R"(,"scope":")", absl::StrJoin(scopes, " "), R"(")",
                   refresh_token.empty() ? ""
                                         : absl::StrCat(R"(,"refresh_token":")",
                                                        refresh_token, R"(")"),
                   "}"));
}

void WriteFault(httplib::Response& res, int status, const std::string& body,
                const std::vector<std::pair<std::string, std::string>>& headers,
                std::optional<size_t> drop_after_bytes) {
  std::string content_type = kJson;
  for (const auto& [name, value] : headers) {
    if (absl::EqualsIgnoreCase(name, "Content-Type")) {
      content_type = value;
    } else {
      res.set_header(name, value);
    }
  }
  res.status = status;
  if (drop_after_bytes.has_value()) {
    auto shared = std::make_shared<const std::string>(body);
    const size_t keep = std::min(*drop_after_bytes, body.size());
    res.set_content_provider(
        body.size(), content_type,
        [shared, keep](size_t offset, size_t length, httplib::DataSink& sink) {
          if (offset >= keep) return false;  // httplib closes the connection
          sink.write(shared->data() + offset, std::min(length, keep - offset));
          return true;
        });
  } else if (!body.empty()) {
    res.set_content(body, content_type);
  }
}

}  // namespace fake_mypos
}  // namespace tokenservice
