// tokenctl: TokenService from the command line.
//
//   tokenctl [global flags] COMMAND [flags]
//     issue   [--credential=NAME] [--scopes=a,b] [--min_validity=5m]
//             [--rejected_fingerprint=FP]
//     revoke  [--credential=NAME] (--token_file=PATH | --token=TOKEN |
//             --fingerprint=FP)
//     info    --fingerprint=FP
//     list    [--credential=NAME] [--page_size=N] [--page_token=T] [--all]
//     health  [--service=NAME]
//
// `tokenctl --help` and `tokenctl COMMAND --help` print the flags (exit 0);
// the command line is parsed by tokenctl_flags.h.
//
// Connection: --target, --tls, --ca_file, --cert_file, --key_file and
// --caller_key_file, or their TOKENSERVICE_* variables (see
// client/connection_config.h and docs/clients.md).
//
// The exit code is the gRPC status code (0 for OK), also for errors before
// any call (an unreadable file is FAILED_PRECONDITION, 9); 14 (UNAVAILABLE)
// when `health` is answered with anything but SERVING; 64 for a command
// line it cannot run (an unknown flag, a flag of another command, a value
// that does not parse or that no call can use). With --json every error is
// one JSON object on stderr, {"code":N,"status":"NAME","message":"...",
// "details":[...]}, "code" being the exit code and "status" the gRPC code's
// name, or USAGE for 64.

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "client/channel_factory.h"
#include "client/connection_config.h"
#include "client/tokenctl_commands.h"
#include "client/tokenctl_flags.h"

namespace tokenservice {
namespace {

int Print(const CommandOutput& output) {
  std::fputs(output.out.c_str(), stdout);
  std::fputs(output.err.c_str(), stderr);
  return output.exit_code;
}

// Whether errors should be JSON, for a command line that did not parse.
bool JsonAsked(const std::vector<std::string>& argv) {
  for (const std::string& arg : argv) {
    if (arg == "--json" || arg == "--json=true" || arg == "--json=1") {
      return true;
    }
  }
  return false;
}

int Main(Invocation invocation) {
  CommandArgs& args = invocation.args;
  auto fail = [&args](const absl::Status& status) {
    return Print(ErrorOutput(status, args.json));
  };
  absl::StatusOr<Connection> connection =
      ResolveConnection(invocation.connection, ProcessEnvironment());
  if (!connection.ok()) return fail(connection.status());
  connection->channel.max_attempts = invocation.max_attempts;
  auto channel = CreateTokenServiceChannel(connection->channel);
  if (!channel.ok()) return fail(channel.status());
  args.caller_key = connection->caller_key;
  if (!invocation.token_file.empty()) {
    absl::StatusOr<std::string> token =
        ReadWholeFile("--token_file", invocation.token_file);
    if (!token.ok()) return fail(token.status());
    if (absl::EndsWith(*token, "\n")) token->pop_back();
    args.token = *std::move(token);
  }
  return Print(RunCommand(invocation.command, args, *channel));
}

}  // namespace
}  // namespace tokenservice

int main(int argc, char** argv) {
  const std::vector<std::string> argv_strings(argv, argv + argc);
  absl::StatusOr<tokenservice::Invocation> invocation =
      tokenservice::ParseTokenctlCommandLine(argv_strings);
  if (!invocation.ok()) {
    return tokenservice::Print(tokenservice::UsageErrorOutput(
        invocation.status().message(), tokenservice::JsonAsked(argv_strings)));
  }
  if (!invocation->help.empty()) {
    std::fputs(invocation->help.c_str(), stdout);
    return 0;
  }
  return tokenservice::Main(*std::move(invocation));
}
