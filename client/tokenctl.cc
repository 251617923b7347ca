// tokenctl: TokenService from the command line.
//
//   tokenctl [connection flags] [--json] [--timeout=10s] COMMAND [flags]
//     issue   [--credential=NAME] [--scopes=a,b] [--min_validity=5m]
//             [--rejected_fingerprint=FP]
//     revoke  [--credential=NAME] (--token_file=PATH | --token=TOKEN |
//             --fingerprint=FP)
//     info    --fingerprint=FP
//     list    [--credential=NAME] [--page_size=N] [--page_token=FP]
//     health  [--service=NAME]
//
// Connection: --target, --tls, --ca_file, --cert_file, --key_file and
// --caller_key_file, or their TOKENSERVICE_* variables (see
// client/connection_config.h and docs/clients.md).
//
// The exit code is the gRPC status code (0 for OK), also for errors before
// any call (an unreadable file is FAILED_PRECONDITION, 9); 14 (UNAVAILABLE)
// when `health` is answered with anything but SERVING; 64 for a command
// line it cannot run (a flag value such as --max_attempts=0 included;
// Abseil itself exits 1 for an unknown flag or an unparsable value). With
// --json every error is one JSON object on stderr, {"code":N,
// "status":"NAME","message":"..."}, "code" being the exit code and "status"
// the gRPC code's name, or USAGE for 64.

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "client/channel_factory.h"
#include "client/connection_config.h"
#include "client/tokenctl_commands.h"

ABSL_FLAG(std::string, target, "",
          "TokenService address; default $TOKENSERVICE_TARGET, then "
          "localhost:50051.");
ABSL_FLAG(bool, tls, false, "Use TLS (also: $TOKENSERVICE_TLS=1).");
ABSL_FLAG(std::string, ca_file, "",
          "PEM CAs that verify the server (implies --tls).");
ABSL_FLAG(std::string, cert_file, "", "PEM client certificate for mTLS.");
ABSL_FLAG(std::string, key_file, "", "PEM client key for mTLS.");
ABSL_FLAG(std::string, caller_key_file, "",
          "File holding the caller key, sent as x-caller-key metadata "
          "(also: $TOKENSERVICE_CALLER_KEY_FILE, $TOKENSERVICE_CALLER_KEY).");
ABSL_FLAG(int, max_attempts, 3, "Attempts per call on UNAVAILABLE.");
ABSL_FLAG(bool, json, false, "Print replies and errors as JSON.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "Deadline per call.");
ABSL_FLAG(std::string, credential, "", "Credential profile; empty: default.");
ABSL_FLAG(std::vector<std::string>, scopes, {}, "Comma-separated scopes.");
ABSL_FLAG(absl::Duration, min_validity, absl::ZeroDuration(),
          "Least validity the token must have left; 0: server default.");
ABSL_FLAG(std::string, rejected_fingerprint, "",
          "Fingerprint of a token the myPOS API rejected.");
ABSL_FLAG(std::string, token, "",
          "Token to revoke (visible in ps; prefer --token_file).");
ABSL_FLAG(std::string, token_file, "", "File holding the token to revoke.");
ABSL_FLAG(std::string, fingerprint, "", "Fingerprint of a cached token.");
ABSL_FLAG(int, page_size, 0, "Tokens per page for list.");
ABSL_FLAG(std::string, page_token, "", "Page token for list.");
ABSL_FLAG(std::string, service, "", "Service name for health; empty: all.");

namespace tokenservice {
namespace {

constexpr char kUsage[] =
    "tokenctl [flags] issue|revoke|info|list|health (see docs/clients.md)\n"
    "Exit code: the gRPC status code (0 OK, 3 INVALID_ARGUMENT, 5 NOT_FOUND,\n"
    "9 FAILED_PRECONDITION, 14 UNAVAILABLE, ...); 14 also when health is\n"
    "answered NOT_SERVING (or anything but SERVING); 64 for a command line\n"
    "tokenctl cannot run. With --json, errors are one JSON object on stderr:\n"
    "{\"code\":N,\"status\":\"NAME\",\"message\":\"...\"}.";

int Print(const CommandOutput& output) {
  std::fputs(output.out.c_str(), stdout);
  std::fputs(output.err.c_str(), stderr);
  return output.exit_code;
}

int Fail(const absl::Status& status) {
  return Print(ErrorOutput(status, absl::GetFlag(FLAGS_json)));
}

// Flag values no call can use: a usage error, not a gRPC one.
absl::Status CheckFlagValues() {
  if (absl::GetFlag(FLAGS_max_attempts) < 1) {
    return absl::InvalidArgumentError("--max_attempts must be at least 1");
  }
  if (absl::GetFlag(FLAGS_timeout) <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--timeout must be positive");
  }
  return absl::OkStatus();
}

int Main(const std::string& command) {
  ConnectionFlags flags;
  flags.target = absl::GetFlag(FLAGS_target);
  flags.tls = absl::GetFlag(FLAGS_tls);
  flags.ca_file = absl::GetFlag(FLAGS_ca_file);
  flags.cert_file = absl::GetFlag(FLAGS_cert_file);
  flags.key_file = absl::GetFlag(FLAGS_key_file);
  flags.caller_key_file = absl::GetFlag(FLAGS_caller_key_file);
  absl::StatusOr<Connection> connection =
      ResolveConnection(flags, ProcessEnvironment());
  if (!connection.ok()) return Fail(connection.status());
  connection->channel.max_attempts = absl::GetFlag(FLAGS_max_attempts);
  auto channel = CreateTokenServiceChannel(connection->channel);
  if (!channel.ok()) return Fail(channel.status());

  CommandArgs args;
  args.json = absl::GetFlag(FLAGS_json);
  args.timeout = absl::GetFlag(FLAGS_timeout);
  args.caller_key = connection->caller_key;
  args.credential = absl::GetFlag(FLAGS_credential);
  args.scopes = absl::GetFlag(FLAGS_scopes);
  args.min_validity = absl::GetFlag(FLAGS_min_validity);
  args.rejected_fingerprint = absl::GetFlag(FLAGS_rejected_fingerprint);
  args.token = absl::GetFlag(FLAGS_token);
  if (const std::string path = absl::GetFlag(FLAGS_token_file); !path.empty()) {
    absl::StatusOr<std::string> token = ReadWholeFile("--token_file", path);
    if (!token.ok()) return Fail(token.status());
    if (absl::EndsWith(*token, "\n")) token->pop_back();
    if (!args.token.empty()) {
      return Fail(
          absl::InvalidArgumentError("give --token or --token_file, not both"));
    }
    args.token = *std::move(token);
  }
  args.fingerprint = absl::GetFlag(FLAGS_fingerprint);
  args.page_size = absl::GetFlag(FLAGS_page_size);
  args.page_token = absl::GetFlag(FLAGS_page_token);
  args.service = absl::GetFlag(FLAGS_service);

  return Print(RunCommand(command, args, *channel));
}

}  // namespace
}  // namespace tokenservice

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(tokenservice::kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  const bool json = absl::GetFlag(FLAGS_json);
  if (args.size() != 2 || !tokenservice::IsCommand(args[1])) {
    return tokenservice::Print(tokenservice::UsageErrorOutput(
        "expected one command: issue|revoke|info|list|health (see --help)",
        json));
  }
  if (absl::Status s = tokenservice::CheckFlagValues(); !s.ok()) {
    return tokenservice::Print(
        tokenservice::UsageErrorOutput(s.message(), json));
  }
  return tokenservice::Main(args[1]);
}
