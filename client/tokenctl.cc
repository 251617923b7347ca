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
// client/connection_config.h and docs/clients.md). The exit code is the gRPC
// status code (0 for OK); 64 for a command line it cannot run.

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

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "tokenctl: %s\n", status.ToString().c_str());
  return static_cast<int>(status.code());
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
  if (const std::string path = absl::GetFlag(FLAGS_token_file);
      !path.empty()) {
    absl::StatusOr<std::string> token = ReadWholeFile("--token_file", path);
    if (!token.ok()) return Fail(token.status());
    if (absl::EndsWith(*token, "\n")) token->pop_back();
    if (!args.token.empty()) {
      return Fail(absl::InvalidArgumentError(
          "give --token or --token_file, not both"));
    }
    args.token = *std::move(token);
  }
  args.fingerprint = absl::GetFlag(FLAGS_fingerprint);
  args.page_size = absl::GetFlag(FLAGS_page_size);
  args.page_token = absl::GetFlag(FLAGS_page_token);
  args.service = absl::GetFlag(FLAGS_service);

  CommandOutput output = RunCommand(command, args, *channel);
  std::fputs(output.out.c_str(), stdout);
  std::fputs(output.err.c_str(), stderr);
  return output.exit_code;
}

}  // namespace
}  // namespace tokenservice

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "tokenctl [flags] issue|revoke|info|list|health (see docs/clients.md)");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2 || !tokenservice::IsCommand(args[1])) {
    std::fprintf(stderr,
                 "usage: tokenctl [flags] issue|revoke|info|list|health\n");
    return tokenservice::kUsageExitCode;
  }
  return tokenservice::Main(args[1]);
}
