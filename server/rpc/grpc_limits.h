// GrpcLimits: what one connection to the gRPC port may hold, so that no
// client (authenticated or not) can grow the server without bound: streams
// per connection, the memory gRPC may use for all of them, and how long a
// connection may stay idle or live. ApplyLimits puts them on a
// ServerBuilder; token_server and the benchmarks' echo server share it.

#ifndef SERVER_RPC_GRPC_LIMITS_H_
#define SERVER_RPC_GRPC_LIMITS_H_

#include <grpcpp/server_builder.h>

#include <cstddef>

#include "absl/time/time.h"

namespace tokenservice {

// Pings without calls are refused, and clients that ping more often than
// every 10 s are disconnected after 2 strikes (not configurable).
struct GrpcLimits {
  int max_concurrent_streams = 100;
  size_t memory_bytes = 64 << 20;
  // Threads gRPC may start for synchronous services (reflection).
  int max_threads = 32;
  // gRPC 1.51 enforces these two with a filter on every call (MaxAgeFilter):
  // 3,400-5,500 instructions a call, BENCHMARKS.md "What a hit costs".
  // InfiniteDuration() (the flags' "inf") turns one off; with both off,
  // gRPC leaves the filter out.
  absl::Duration max_connection_idle = absl::Minutes(5);
  absl::Duration max_connection_age = absl::Minutes(30);
  absl::Duration max_connection_age_grace = absl::Seconds(30);
  // Largest request metadata (headers) accepted, in bytes.
  int max_metadata_bytes = 16 << 10;
};

// Without these, one client opening streams it never finishes grows the
// server without bound (gRPC advertises 2^32-1 streams and never times
// such streams out).
void ApplyLimits(const GrpcLimits& limits, grpc::ServerBuilder* builder);

// `d` as a gRPC channel argument in milliseconds: INT32_MAX, which gRPC
// reads as never, for an infinite duration or one too long to fit; 0 for
// a negative one.
int GrpcMillis(absl::Duration d);

}  // namespace tokenservice

#endif  // SERVER_RPC_GRPC_LIMITS_H_
