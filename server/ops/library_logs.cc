#include "server/ops/library_logs.h"

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "server/ops/log.h"

namespace tokenservice {
namespace {

void FromProtobuf(google::protobuf::LogLevel level, const char* file, int line,
                  const std::string& message) {
  // Protobuf's warnings and errors come from parsing what callers send;
  // FATAL ones end the process anyway.
  const LogLevel ours = level == google::protobuf::LOGLEVEL_FATAL
                            ? LogLevel::kError
                            : LogLevel::kDebug;
  Log(ours, "protobuf_log", message, {{"file", file}, {"line", line}});
}

void FromGrpc(gpr_log_func_args* args) {
  const LogLevel ours =
      args->severity == GPR_LOG_SEVERITY_ERROR  ? LogLevel::kError
      : args->severity == GPR_LOG_SEVERITY_INFO ? LogLevel::kInfo
                                                : LogLevel::kDebug;
  Log(ours, "grpc_log", args->message,
      {{"file", args->file}, {"line", args->line}});
}

}  // namespace

void RouteLibraryLogsToJson() {
  google::protobuf::SetLogHandler(&FromProtobuf);
  gpr_set_log_function(&FromGrpc);
}

}  // namespace tokenservice
