// CheckCanListen: whether this process could listen on a TCP address, asked
// before a server binds it, so that a port in use stops start-up with one
// clear line naming the address and the reason, and not with the gRPC
// core's own log lines.

#ifndef SERVER_OPS_LISTEN_CHECK_H_
#define SERVER_OPS_LISTEN_CHECK_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace tokenservice {

// Binds and closes a socket on `address` ("HOST:PORT", "[V6]:PORT"), with
// SO_REUSEADDR but never SO_REUSEPORT, so it fails as the server would.
// OK for port 0 and for addresses that are not HOST:PORT (gRPC's "unix:"
// addresses): the server itself decides those. kUnavailable naming
// `address` and the reason (e.g. "Address already in use") otherwise.
// Thread-safe.
absl::Status CheckCanListen(absl::string_view address);

}  // namespace tokenservice

#endif  // SERVER_OPS_LISTEN_CHECK_H_
