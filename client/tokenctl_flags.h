// tokenctl's command line: global flags, one command, that command's flags.
//
//   tokenctl [global flags] COMMAND [command flags]
//
// Global flags may also come after the command; a command's flags only
// after it, and only those that apply to it: `health --scopes=x` is a usage
// error naming the flag, as is a flag tokenctl does not know (rather than
// Abseil's exit 1, which is CANCELLED here). `--help` (or `-h`, or `help`)
// prints the global help, `COMMAND --help` that command's, `--version` the
// version; each exits 0.
// Values are `--flag=value` or `--flag value`; a boolean flag alone is true.

#ifndef CLIENT_TOKENCTL_FLAGS_H_
#define CLIENT_TOKENCTL_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/connection_config.h"
#include "client/tokenctl_commands.h"

namespace tokenservice {

struct Invocation {
  // Set when help (or the version) was asked for: print it to stdout, exit
  // 0. Nothing else is set then.
  std::string help;
  std::string command;
  ConnectionFlags connection;
  int max_attempts = 3;
  std::string token_file;  // revoke: read into args.token by the caller
  CommandArgs args;
};

// Parses `argv` (argv[0] is the program). kInvalidArgument, with a message
// for the user, for a command line tokenctl cannot run (exit 64).
absl::StatusOr<Invocation> ParseTokenctlCommandLine(
    const std::vector<std::string>& argv);

}  // namespace tokenservice

#endif  // CLIENT_TOKENCTL_FLAGS_H_
