#include "client/tokenctl_flags.h"

#include <algorithm>
#include <functional>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/version.h"

namespace tokenservice {
namespace {

enum class Kind { kString, kBool, kInt, kDuration, kList };

struct Flag {
  const char* name;
  Kind kind;
  const char* value_name;  // in the help: --name=VALUE
  const char* help;
  std::function<void(Invocation&, const std::string&)> set;
};

struct Command {
  const char* name;
  const char* summary;
  std::vector<Flag> flags;
};

int ToInt(const std::string& v) {
  int n = 0;
  (void)absl::SimpleAtoi(v, &n);  // validated before
  return n;
}
absl::Duration ToDuration(const std::string& v) {
  absl::Duration d;
  (void)absl::ParseDuration(v, &d);  // validated before
  return d;
}
bool ToBool(const std::string& v) { return v == "true" || v == "1"; }

const std::vector<Flag>& GlobalFlags() {
  static const auto* flags = new std::vector<Flag>{
      {"target", Kind::kString, "HOST:PORT",
       "TokenService address; default $TOKENSERVICE_TARGET, then "
       "localhost:50051",
       [](Invocation& i, const std::string& v) { i.connection.target = v; }},
      {"tls", Kind::kBool, "", "use TLS (also: $TOKENSERVICE_TLS=1)",
       [](Invocation& i, const std::string& v) {
         i.connection.tls = ToBool(v);
       }},
      {"ca_file", Kind::kString, "PATH",
       "PEM CAs that verify the server (implies --tls)",
       [](Invocation& i, const std::string& v) { i.connection.ca_file = v; }},
      {"cert_file", Kind::kString, "PATH", "PEM client certificate for mTLS",
       [](Invocation& i, const std::string& v) { i.connection.cert_file = v; }},
      {"key_file", Kind::kString, "PATH", "PEM client key for mTLS",
       [](Invocation& i, const std::string& v) { i.connection.key_file = v; }},
      {"caller_key_file", Kind::kString, "PATH",
       "file holding the caller key, sent as x-caller-key (also: "
       "$TOKENSERVICE_CALLER_KEY_FILE, $TOKENSERVICE_CALLER_KEY)",
       [](Invocation& i, const std::string& v) {
         i.connection.caller_key_file = v;
       }},
      {"max_attempts", Kind::kInt, "N",
       "attempts per call on UNAVAILABLE or CANCELLED (default 3; 1: no "
       "retries)",
       [](Invocation& i, const std::string& v) { i.max_attempts = ToInt(v); }},
      {"timeout", Kind::kDuration, "DURATION",
       "deadline of each call (default 10s)",
       [](Invocation& i, const std::string& v) {
         i.args.timeout = ToDuration(v);
       }},
      {"json", Kind::kBool, "",
       "print replies and errors as JSON (.proto field names)",
       [](Invocation& i, const std::string& v) { i.args.json = ToBool(v); }},
      {"emit_defaults", Kind::kBool, "",
       "with --json, print fields that hold their default value too (as "
       "grpcurl -emit-defaults)",
       [](Invocation& i, const std::string& v) {
         i.args.emit_defaults = ToBool(v);
       }},
  };
  return *flags;
}

Flag Credential() {
  return {"credential", Kind::kString, "NAME",
          "credential profile; default: the server's default",
          [](Invocation& i, const std::string& v) { i.args.credential = v; }};
}

Flag Fingerprint(const char* help) {
  return {"fingerprint", Kind::kString, "FP", help,
          [](Invocation& i, const std::string& v) { i.args.fingerprint = v; }};
}

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"issue",
       "get a token for a profile and scopes (from the server's cache when "
       "it holds one)",
       {Credential(),
        {"scopes", Kind::kList, "A,B", "comma-separated scopes",
         [](Invocation& i, const std::string& v) {
           i.args.scopes = absl::StrSplit(v, ',', absl::SkipEmpty());
         }},
        {"min_validity", Kind::kDuration, "DURATION",
         "least validity the token must have left; default: the server's",
         [](Invocation& i, const std::string& v) {
           i.args.min_validity = ToDuration(v);
         }},
        {"rejected_fingerprint", Kind::kString, "FP",
         "fingerprint of a token the myPOS API rejected: get its "
         "replacement",
         [](Invocation& i, const std::string& v) {
           i.args.rejected_fingerprint = v;
         }}}},
      {"revoke",
       "revoke a token at myPOS and drop it from the cache; exactly one of "
       "--token, --token_file, --fingerprint",
       {Credential(),
        {"token_file", Kind::kString, "PATH",
         "file holding the token to revoke",
         [](Invocation& i, const std::string& v) { i.token_file = v; }},
        {"token", Kind::kString, "TOKEN",
         "the token to revoke (visible in ps: prefer --token_file)",
         [](Invocation& i, const std::string& v) { i.args.token = v; }},
        Fingerprint("fingerprint of a token the server cached")}},
      {"info",
       "a cached token's metadata (never the token)",
       {Fingerprint("fingerprint of the token (required)")}},
      {"list",
       "the cached tokens' metadata, a page at a time",
       {Credential(),
        {"page_size", Kind::kInt, "N", "tokens per page; default: the server's",
         [](Invocation& i, const std::string& v) {
           i.args.page_size = ToInt(v);
         }},
        {"page_token", Kind::kString, "TOKEN",
         "the next_page_token of the page before",
         [](Invocation& i, const std::string& v) { i.args.page_token = v; }},
        {"all", Kind::kBool, "", "follow next_page_token to the last page",
         [](Invocation& i, const std::string& v) {
           i.args.all_pages = ToBool(v);
         }}}},
      {"health",
       "the server's grpc.health.v1 status; exit 14 unless SERVING",
       {{"service", Kind::kString, "NAME",
         "service to ask about; default: the server as a whole",
         [](Invocation& i, const std::string& v) { i.args.service = v; }}}},
  };
  return *commands;
}

const Command* FindCommand(absl::string_view name) {
  for (const Command& c : Commands()) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

const Flag* FindFlag(const std::vector<Flag>& flags, absl::string_view name) {
  for (const Flag& f : flags) {
    if (name == f.name) return &f;
  }
  return nullptr;
}

void AppendFlagHelp(const std::vector<Flag>& flags, std::string* out) {
  for (const Flag& f : flags) {
    std::string usage = absl::StrCat("--", f.name);
    if (f.kind != Kind::kBool) absl::StrAppend(&usage, "=", f.value_name);
    usage.resize(std::max<size_t>(usage.size() + 2, 26), ' ');
    absl::StrAppend(out, "  ", usage, f.help, "\n");
  }
}

constexpr char kExitCodes[] =
    "Exit code: the gRPC status code (0 OK, 3 INVALID_ARGUMENT, 5 NOT_FOUND,\n"
    "9 FAILED_PRECONDITION, 14 UNAVAILABLE, ...); 14 also when health is\n"
    "answered NOT_SERVING (or anything but SERVING); 64 for a command line\n"
    "tokenctl cannot run. Errors show the ErrorInfo reason and details; with "
    "--json they are\n"
    "one object on stderr: {\"code\":N,\"status\":\"NAME\",\"message\":\"...\","
    "\n\"details\":[...]}. See docs/clients.md.\n";

std::string GlobalHelp() {
  std::string out =
      "Usage: tokenctl [global flags] COMMAND [flags]\n\nCommands:\n";
  for (const Command& c : Commands()) {
    std::string name = c.name;
    name.resize(9, ' ');
    absl::StrAppend(&out, "  ", name, c.summary, "\n");
  }
  absl::StrAppend(&out, "\nGlobal flags (before or after the command):\n");
  AppendFlagHelp(GlobalFlags(), &out);
  absl::StrAppend(&out,
                  "\nRun \"tokenctl COMMAND --help\" for a command's flags, "
                  "\"tokenctl --version\" for the version.\n",
                  kExitCodes);
  return out;
}

std::string CommandHelp(const Command& c) {
  std::string out = absl::StrCat("Usage: tokenctl [global flags] ", c.name,
                                 " [flags]\n\n", c.summary, "\n\nFlags:\n");
  AppendFlagHelp(c.flags, &out);
  absl::StrAppend(&out, "\nGlobal flags: see \"tokenctl --help\".\n",
                  kExitCodes);
  return out;
}

absl::Status CheckValue(const Flag& f, const std::string& value) {
  const std::string name = absl::StrCat("--", f.name);
  switch (f.kind) {
    case Kind::kString:
    case Kind::kList:
      return absl::OkStatus();
    case Kind::kBool:
      if (value == "true" || value == "false" || value == "1" || value == "0") {
        return absl::OkStatus();
      }
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": \"", value, "\" is not true or false"));
    case Kind::kInt: {
      int n = 0;
      if (absl::SimpleAtoi(value, &n)) return absl::OkStatus();
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": \"", value, "\" is not a whole number"));
    }
    case Kind::kDuration: {
      absl::Duration d;
      if (absl::ParseDuration(value, &d)) return absl::OkStatus();
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": \"", value, "\" is not a duration (such as 10s or 5m)"));
    }
  }
  return absl::OkStatus();
}

// Rules across flags, once all are read.
absl::Status CheckInvocation(const Invocation& i) {
  if (i.max_attempts < 1) {
    return absl::InvalidArgumentError("--max_attempts must be at least 1");
  }
  if (i.args.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--timeout must be positive");
  }
  if (i.args.page_size < 0) {
    return absl::InvalidArgumentError("--page_size must not be negative");
  }
  if (i.command == "revoke" && (!i.args.token.empty()) +
                                       (!i.token_file.empty()) +
                                       (!i.args.fingerprint.empty()) !=
                                   1) {
    return absl::InvalidArgumentError(
        "revoke needs exactly one of --token, --token_file and "
        "--fingerprint");
  }
  if (i.command == "info" && i.args.fingerprint.empty()) {
    return absl::InvalidArgumentError("info needs --fingerprint");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Invocation> ParseTokenctlCommandLine(
    const std::vector<std::string>& argv) {
  Invocation invocation;
  const Command* command = nullptr;
  bool help = false;
  for (size_t k = 1; k < argv.size(); ++k) {
    const std::string& arg = argv[k];
    if (arg == "--help" || arg == "-h" || arg == "-help" ||
        (arg == "help" && command == nullptr)) {
      help = true;
      continue;
    }
    if (arg == "--version") {
      Invocation version;
      version.help = VersionString("tokenctl");
      return version;
    }
    if (!absl::StartsWith(arg, "-")) {
      if (command != nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("unexpected argument \"", arg, "\" after the command ",
                         command->name));
      }
      command = FindCommand(arg);
      if (command == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown command \"", arg,
                         "\": one of issue, revoke, info, list, health"));
      }
      invocation.command = arg;
      continue;
    }
    absl::string_view text = arg;
    text.remove_prefix(absl::StartsWith(text, "--") ? 2 : 1);
    const size_t eq = text.find('=');
    const std::string name(text.substr(0, eq));
    const Flag* flag = FindFlag(GlobalFlags(), name);
    if (flag == nullptr && command != nullptr) {
      flag = FindFlag(command->flags, name);
    }
    if (flag == nullptr) {
      for (const Command& c : Commands()) {
        if (FindFlag(c.flags, name) != nullptr) {
          return absl::InvalidArgumentError(
              command == nullptr
                  ? absl::StrCat("--", name,
                                 " goes after the command it "
                                 "belongs to (tokenctl --help)")
                  : absl::StrCat("--", name, " does not apply to ",
                                 command->name, " (tokenctl ", command->name,
                                 " --help)"));
        }
      }
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, " (tokenctl --help)"));
    }
    std::string value;
    if (eq != absl::string_view::npos) {
      value = std::string(text.substr(eq + 1));
    } else if (flag->kind == Kind::kBool) {
      value = "true";
    } else if (k + 1 < argv.size() && !absl::StartsWith(argv[k + 1], "-")) {
      value = argv[++k];
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " needs a value"));
    }
    if (absl::Status s = CheckValue(*flag, value); !s.ok()) return s;
    flag->set(invocation, value);
  }
  if (help) {
    return Invocation{command == nullptr ? GlobalHelp()
                                         : CommandHelp(*command)};
  }
  if (command == nullptr) {
    return absl::InvalidArgumentError(
        "expected a command: issue, revoke, info, list or health (tokenctl "
        "--help)");
  }
  if (absl::Status s = CheckInvocation(invocation); !s.ok()) return s;
  return invocation;
}

}  // namespace tokenservice
