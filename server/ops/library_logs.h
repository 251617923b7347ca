// Sends protobuf's and gRPC core's own log output through our JSON logger
// (server/ops/log.h), so that after start-up stderr carries only JSON lines
// that a log pipeline can parse: events "protobuf_log" and "grpc_log", with
// the library's file, line and message. Protobuf errors about a caller's
// bytes (invalid UTF-8 in a string field, say) are logged at debug level:
// the caller gets INVALID_ARGUMENT, and a flood of bad requests must not
// become a flood of lines.

#ifndef SERVER_OPS_LIBRARY_LOGS_H_
#define SERVER_OPS_LIBRARY_LOGS_H_

namespace tokenservice {

// Installs both handlers. Call once, at start-up, before serving: neither
// library's handler setter is thread-safe.
void RouteLibraryLogsToJson();

}  // namespace tokenservice

#endif  // SERVER_OPS_LIBRARY_LOGS_H_
