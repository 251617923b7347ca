#include "client/tokenctl_commands.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "base/time_util.h"
#include "client/call_context.h"
#include "client/output.h"
#include "google/protobuf/any.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "proto/token_service.grpc.pb.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;
namespace health = ::grpc::health::v1;
using google::protobuf::Message;

// One error: "tokenctl: [NAME: ]message" and `human_details`, or a JSON
// object with `json_details` (already JSON) as "details" when not empty.
CommandOutput FormatError(int code, absl::string_view name,
                          absl::string_view message, bool json,
                          const std::string& human_details = "",
                          const std::vector<std::string>& json_details = {}) {
  CommandOutput output;
  output.exit_code = code;
  if (json) {
    // A Value holding a string prints as a properly escaped JSON string.
    google::protobuf::Value text;
    text.set_string_value(std::string(message));
    output.err = absl::StrCat("{\"code\":", code, ",\"status\":\"", name,
                              "\",\"message\":", FormatJson(text));
    if (!json_details.empty()) {
      absl::StrAppend(&output.err, ",\"details\":[",
                      absl::StrJoin(json_details, ","), "]");
    }
    absl::StrAppend(&output.err, "}\n");
  } else if (name.empty()) {
    output.err = absl::StrCat("tokenctl: ", message, "\n");
  } else {
    output.err =
        absl::StrCat("tokenctl: ", name, ": ", message, "\n", human_details);
  }
  return output;
}

CommandOutput Error(const CommandArgs& args, grpc::StatusCode code,
                    const std::string& message) {
  return ErrorOutput(absl::Status(static_cast<absl::StatusCode>(code), message),
                     args.json);
}

std::string ReplyJson(const CommandArgs& args, const Message& reply) {
  return FormatJson(reply, args.emit_defaults) + "\n";
}

CommandOutput Print(const CommandArgs& args, const grpc::Status& status,
                    const Message& reply) {
  if (!status.ok()) return ErrorOutput(status, args.json);
  CommandOutput output;
  output.out = args.json ? ReplyJson(args, reply) : FormatHuman(reply);
  return output;
}

// A stub method bound to its request and reply types.
template <typename Stub, typename Request, typename Reply>
using Method = grpc::Status (Stub::*)(grpc::ClientContext*, const Request&,
                                      Reply*);

template <typename Stub, typename Request, typename Reply>
CommandOutput Call(const CommandArgs& args, Stub& stub,
                   Method<Stub, Request, Reply> method,
                   const Request& request) {
  grpc::ClientContext context;
  PrepareCallContext(context, absl::Now() + args.timeout, args.caller_key);
  Reply reply;
  return Print(args, (stub.*method)(&context, request, &reply), reply);
}

CommandOutput Issue(const CommandArgs& args, v1::TokenService::Stub& stub) {
  v1::IssueRequest request;
  request.set_credential(args.credential);
  for (const std::string& s : args.scopes) request.add_scopes(s);
  if (args.min_validity > absl::ZeroDuration()) {
    *request.mutable_min_validity() = ToProtoDuration(args.min_validity);
  }
  request.set_rejected_fingerprint(args.rejected_fingerprint);
  return Call(args, stub, &v1::TokenService::Stub::Issue, request);
}

CommandOutput Revoke(const CommandArgs& args, v1::TokenService::Stub& stub) {
  if (args.token.empty() == args.fingerprint.empty()) {
    return Error(args, grpc::INVALID_ARGUMENT,
                 "revoke needs exactly one of --token, --token_file and "
                 "--fingerprint");
  }
  v1::RevokeRequest request;
  request.set_credential(args.credential);
  if (!args.token.empty()) {
    request.set_token(args.token);
  } else {
    request.set_fingerprint(args.fingerprint);
  }
  return Call(args, stub, &v1::TokenService::Stub::Revoke, request);
}

CommandOutput Info(const CommandArgs& args, v1::TokenService::Stub& stub) {
  v1::GetTokenInfoRequest request;
  request.set_fingerprint(args.fingerprint);
  return Call(args, stub, &v1::TokenService::Stub::GetTokenInfo, request);
}

CommandOutput List(const CommandArgs& args, v1::TokenService::Stub& stub) {
  v1::ListTokensRequest request;
  request.set_credential(args.credential);
  request.set_page_size(args.page_size);
  request.set_page_token(args.page_token);
  if (!args.all_pages) {
    return Call(args, stub, &v1::TokenService::Stub::ListTokens, request);
  }
  // Every page, printed as one reply with no next_page_token. A server
  // that hands back a token it gave before would loop: that is an error.
  v1::ListTokensResponse all;
  absl::flat_hash_set<std::string> seen = {request.page_token()};
  for (;;) {
    grpc::ClientContext context;
    PrepareCallContext(context, absl::Now() + args.timeout, args.caller_key);
    v1::ListTokensResponse page;
    const grpc::Status status = stub.ListTokens(&context, request, &page);
    if (!status.ok()) return ErrorOutput(status, args.json);
    for (auto& token : *page.mutable_tokens()) {
      *all.add_tokens() = std::move(token);
    }
    if (page.next_page_token().empty()) break;
    if (!seen.insert(page.next_page_token()).second) {
      return Error(args, grpc::INTERNAL,
                   "the server returned a page token it gave before");
    }
    request.set_page_token(page.next_page_token());
  }
  return Print(args, grpc::Status::OK, all);
}

// An answer other than SERVING is an error too: scripts and probes test
// the exit code.
CommandOutput Health(const CommandArgs& args,
                     const std::shared_ptr<grpc::ChannelInterface>& channel) {
  health::Health::Stub stub(channel);
  health::HealthCheckRequest request;
  request.set_service(args.service);
  grpc::ClientContext context;
  PrepareCallContext(context, absl::Now() + args.timeout, args.caller_key);
  health::HealthCheckResponse reply;
  CommandOutput output =
      Print(args, stub.Check(&context, request, &reply), reply);
  if (output.exit_code != 0 ||
      reply.status() == health::HealthCheckResponse::SERVING) {
    return output;
  }
  static_assert(kNotServingExitCode == grpc::StatusCode::UNAVAILABLE);
  CommandOutput error = ErrorOutput(
      absl::UnavailableError(absl::StrCat(
          args.service.empty() ? "the server"
                               : absl::StrCat("service \"", args.service, "\""),
          " is ",
          health::HealthCheckResponse::ServingStatus_Name(reply.status()))),
      args.json);
  error.out = std::move(output.out);
  return error;
}

}  // namespace

CommandOutput ErrorOutput(const absl::Status& status, bool json) {
  return FormatError(static_cast<int>(status.code()),
                     absl::StatusCodeToString(status.code()), status.message(),
                     json);
}

CommandOutput ErrorOutput(const grpc::Status& status, bool json) {
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  google::rpc::Status details;
  std::string human;
  std::vector<std::string> as_json;
  if (details.ParseFromString(status.error_details())) {
    for (const google::protobuf::Any& any : details.details()) {
      // A type tokenctl does not link in cannot be printed as JSON: its
      // name alone, so that the array stays valid JSON.
      std::string json = FormatJson(any);
      if (json.empty()) {
        google::protobuf::Value type_url;
        type_url.set_string_value(any.type_url());
        json = absl::StrCat("{\"@type\":", FormatJson(type_url), "}");
      }
      as_json.push_back(std::move(json));
      // The two kinds the service sends, field by field (protobuf's map
      // reflection crashed under TSAN); any other by its type name.
      google::rpc::ErrorInfo info;
      google::rpc::RetryInfo retry;
      if (any.UnpackTo(&info)) {
        absl::StrAppend(&human, "  ErrorInfo:\n    reason: ", info.reason(),
                        "\n    domain: ", info.domain(), "\n");
        std::vector<std::string> keys;
        for (const auto& entry : info.metadata()) keys.push_back(entry.first);
        std::sort(keys.begin(), keys.end());
        for (const std::string& key : keys) {
          absl::StrAppend(&human, "    metadata ", key, ": ",
                          info.metadata().at(key), "\n");
        }
      } else if (any.UnpackTo(&retry)) {
        absl::StrAppend(&human, "  RetryInfo:\n", FormatHuman(retry, 4));
      } else {
        absl::StrAppend(
            &human, "  ",
            absl::StripPrefix(any.type_url(), "type.googleapis.com/"), "\n");
      }
    }
  }
  return FormatError(static_cast<int>(code), absl::StatusCodeToString(code),
                     status.error_message(), json, human, as_json);
}

CommandOutput UsageErrorOutput(absl::string_view message, bool json) {
  return FormatError(kUsageExitCode, json ? "USAGE" : "", message, json);
}

bool IsCommand(absl::string_view command) {
  return command == "issue" || command == "revoke" || command == "info" ||
         command == "list" || command == "health";
}

CommandOutput RunCommand(
    absl::string_view command, const CommandArgs& args,
    const std::shared_ptr<grpc::ChannelInterface>& channel) {
  if (command == "health") return Health(args, channel);
  v1::TokenService::Stub stub(channel);
  if (command == "issue") return Issue(args, stub);
  if (command == "revoke") return Revoke(args, stub);
  if (command == "info") return Info(args, stub);
  if (command == "list") return List(args, stub);
  return UsageErrorOutput(absl::StrCat("unknown command ", command), args.json);
}

}  // namespace tokenservice
