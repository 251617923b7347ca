// tokenctl: TokenService from the command line.
//
//   tokenctl [--target=HOST:PORT] [--json] COMMAND
//     issue   [--credential=NAME] [--scopes=a,b] [--min_validity=5m]
//             [--rejected_fingerprint=FP]
//     revoke  [--credential=NAME] (--token=TOKEN | --fingerprint=FP)
//     info    --fingerprint=FP
//     list    [--credential=NAME] [--page_size=N] [--page_token=FP]
//     health  [--service=NAME]
//
// The target comes from --target, else $TOKENSERVICE_TARGET, else
// localhost:50051. The exit code is the gRPC status code (0 for OK).

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/output.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "proto/token_service.grpc.pb.h"

ABSL_FLAG(std::string, target, "", "TokenService address, HOST:PORT.");
ABSL_FLAG(bool, json, false, "Print replies as JSON.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "Deadline per call.");
ABSL_FLAG(std::string, credential, "", "Credential profile; empty: default.");
ABSL_FLAG(std::vector<std::string>, scopes, {}, "Comma-separated scopes.");
ABSL_FLAG(absl::Duration, min_validity, absl::ZeroDuration(),
          "Least validity the token must have left; 0: server default.");
ABSL_FLAG(std::string, rejected_fingerprint, "",
          "Fingerprint of a token the myPOS API rejected.");
ABSL_FLAG(std::string, token, "", "Token to revoke.");
ABSL_FLAG(std::string, fingerprint, "", "Fingerprint of a cached token.");
ABSL_FLAG(int, page_size, 0, "Tokens per page for list.");
ABSL_FLAG(std::string, page_token, "", "Page token for list.");
ABSL_FLAG(std::string, service, "", "Service name for health; empty: all.");

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;

std::string Target() {
  std::string target = absl::GetFlag(FLAGS_target);
  if (target.empty()) {
    const char* env = std::getenv("TOKENSERVICE_TARGET");
    target = env != nullptr && *env != '\0' ? env : "localhost:50051";
  }
  return target;
}

// Prints `reply` or the error, and returns the exit code.
int Report(const grpc::Status& status,
           const google::protobuf::Message& reply) {
  if (!status.ok()) {
    std::fprintf(stderr, "tokenctl: %d %s\n", status.error_code(),
                 status.error_message().c_str());
    return status.error_code();
  }
  const std::string text = absl::GetFlag(FLAGS_json)
                               ? FormatJson(reply) + "\n"
                               : FormatHuman(reply);
  std::fputs(text.c_str(), stdout);
  return 0;
}

struct Call {
  std::shared_ptr<grpc::Channel> channel;
  grpc::ClientContext context;
  explicit Call(std::shared_ptr<grpc::Channel> c) : channel(std::move(c)) {
    context.set_deadline(absl::ToChronoTime(
        absl::Now() + absl::GetFlag(FLAGS_timeout)));
  }
};

int Issue(Call& call) {
  v1::IssueRequest request;
  request.set_credential(absl::GetFlag(FLAGS_credential));
  for (const std::string& s : absl::GetFlag(FLAGS_scopes)) {
    request.add_scopes(s);
  }
  const absl::Duration min = absl::GetFlag(FLAGS_min_validity);
  if (min > absl::ZeroDuration()) {
    request.mutable_min_validity()->set_seconds(absl::ToInt64Seconds(min));
  }
  request.set_rejected_fingerprint(absl::GetFlag(FLAGS_rejected_fingerprint));
  v1::IssueResponse reply;
  return Report(v1::TokenService::NewStub(call.channel)
                    ->Issue(&call.context, request, &reply),
                reply);
}

int Revoke(Call& call) {
  v1::RevokeRequest request;
  request.set_credential(absl::GetFlag(FLAGS_credential));
  if (!absl::GetFlag(FLAGS_token).empty()) {
    request.set_token(absl::GetFlag(FLAGS_token));
  } else if (!absl::GetFlag(FLAGS_fingerprint).empty()) {
    request.set_fingerprint(absl::GetFlag(FLAGS_fingerprint));
  }
  v1::RevokeResponse reply;
  return Report(v1::TokenService::NewStub(call.channel)
                    ->Revoke(&call.context, request, &reply),
                reply);
}

int Info(Call& call) {
  v1::GetTokenInfoRequest request;
  request.set_fingerprint(absl::GetFlag(FLAGS_fingerprint));
  v1::TokenInfo reply;
  return Report(v1::TokenService::NewStub(call.channel)
                    ->GetTokenInfo(&call.context, request, &reply),
                reply);
}

int List(Call& call) {
  v1::ListTokensRequest request;
  request.set_credential(absl::GetFlag(FLAGS_credential));
  request.set_page_size(absl::GetFlag(FLAGS_page_size));
  request.set_page_token(absl::GetFlag(FLAGS_page_token));
  v1::ListTokensResponse reply;
  return Report(v1::TokenService::NewStub(call.channel)
                    ->ListTokens(&call.context, request, &reply),
                reply);
}

int Health(Call& call) {
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(absl::GetFlag(FLAGS_service));
  grpc::health::v1::HealthCheckResponse reply;
  return Report(grpc::health::v1::Health::NewStub(call.channel)
                    ->Check(&call.context, request, &reply),
                reply);
}

}  // namespace
}  // namespace tokenservice

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "tokenctl [flags] issue|revoke|info|list|health (see client/README.md)");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  const std::map<std::string, std::function<int(tokenservice::Call&)>>
      commands = {{"issue", tokenservice::Issue},
                  {"revoke", tokenservice::Revoke},
                  {"info", tokenservice::Info},
                  {"list", tokenservice::List},
                  {"health", tokenservice::Health}};
  if (args.size() != 2 || commands.count(args[1]) == 0) {
    std::fprintf(stderr, "usage: tokenctl [flags] "
                         "issue|revoke|info|list|health\n");
    return 64;  // EX_USAGE, outside the range of gRPC codes
  }
  tokenservice::Call call(grpc::CreateChannel(
      tokenservice::Target(), grpc::InsecureChannelCredentials()));
  return commands.at(args[1])(call);
}
