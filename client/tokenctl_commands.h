// The commands of tokenctl, apart from flag parsing so that tests can run
// them in-process against a loopback server.
//
//   issue   [credential, scopes, min_validity, rejected_fingerprint]
//   revoke  [credential] (token | fingerprint)
//   info    fingerprint
//   list    [credential, page_size, page_token]
//   health  [service]

#ifndef CLIENT_TOKENCTL_COMMANDS_H_
#define CLIENT_TOKENCTL_COMMANDS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tokenservice {

// Exit code for a command line tokenctl cannot run (EX_USAGE), outside the
// range of gRPC codes.
inline constexpr int kUsageExitCode = 64;

// Exit code of `health` when the server answers but not SERVING
// (NOT_SERVING, SERVICE_UNKNOWN, UNKNOWN): UNAVAILABLE, what a call to a
// service that is not serving gets, so that the exit code stays a gRPC
// code. (grpc_health_probe exits 4 there, which here is DEADLINE_EXCEEDED.)
inline constexpr int kNotServingExitCode = 14;

struct CommandArgs {
  bool json = false;           // JSON instead of "name: value"
  bool emit_defaults = false;  // JSON: fields at their default value too
  absl::Duration timeout = absl::Seconds(10);  // deadline of the call
  std::string caller_key;                      // x-caller-key; empty: none
  std::string credential;
  std::vector<std::string> scopes;
  absl::Duration min_validity = absl::ZeroDuration();  // 0: server default
  std::string rejected_fingerprint;
  std::string token;
  std::string fingerprint;
  int page_size = 0;
  std::string page_token;
  bool all_pages = false;  // list: follow next_page_token to the end
  std::string service;
};

struct CommandOutput {
  int exit_code = 0;  // the gRPC status code; kUsageExitCode
  std::string out;    // the reply, for stdout
  std::string err;    // the error, for stderr
};

// True for issue, revoke, info, list and health.
bool IsCommand(absl::string_view command);

// Runs `command` over `channel`. The exit code is the call's gRPC status
// code (0 for OK; INVALID_ARGUMENT, 3, for a request tokenctl refuses to
// send; kNotServingExitCode when `health` gets an answer other than
// SERVING, printed as a reply and as an error). Errors are as ErrorOutput
// prints them.
CommandOutput RunCommand(
    absl::string_view command, const CommandArgs& args,
    const std::shared_ptr<grpc::ChannelInterface>& channel);

// `status` (not OK) as an error for stderr: "tokenctl: CODE_NAME: message"
// or, with `json`, one object
// {"code":N,"status":"CODE_NAME","message":"..."}; the exit code is the
// status code (absl and gRPC codes share numbers).
CommandOutput ErrorOutput(const absl::Status& status, bool json);

// A call's error, as ErrorOutput prints it plus the google.rpc.Status
// details the server sent (ErrorInfo's reason, domain and metadata,
// RetryInfo's delay, ...): indented "name: value" lines after the first,
// or, with `json`, a "details" array of the details as JSON objects with
// their "@type", as grpcurl shows them.
CommandOutput ErrorOutput(const grpc::Status& status, bool json);

// A command line tokenctl cannot run, as an error for stderr:
// "tokenctl: message" or, with `json`,
// {"code":64,"status":"USAGE","message":"..."}; exit code kUsageExitCode.
CommandOutput UsageErrorOutput(absl::string_view message, bool json);

}  // namespace tokenservice

#endif  // CLIENT_TOKENCTL_COMMANDS_H_
