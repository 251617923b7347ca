// How tokenctl prints replies: "field: value" lines for people, or JSON
// (proto field names) for scripts.

#ifndef CLIENT_OUTPUT_H_
#define CLIENT_OUTPUT_H_

#include <string>

#include "google/protobuf/message.h"

namespace tokenservice {

// One "name: value" line per set field; timestamps and durations in
// RFC 3339 / "300s" form, repeated scalars space-separated, repeated
// messages as indented blocks.
std::string FormatHuman(const google::protobuf::Message& message,
                        int indent = 0);

// The message as JSON with the .proto field names, one object; with
// `emit_defaults`, fields at their default value too (grpcurl's
// -emit-defaults).
std::string FormatJson(const google::protobuf::Message& message,
                       bool emit_defaults = false);

}  // namespace tokenservice

#endif  // CLIENT_OUTPUT_H_
