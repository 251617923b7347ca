// Fuzz harness for request validation (server/rpc/request_validation.h).

#ifndef FUZZ_REQUEST_VALIDATION_HARNESS_H_
#define FUZZ_REQUEST_VALIDATION_HARNESS_H_

#include <cstddef>
#include <cstdint>

namespace tokenservice {
namespace fuzz {

// Input: one byte choosing the request type (modulo 4: IssueRequest,
// RevokeRequest, GetTokenInfoRequest, ListTokensRequest), then the request
// in protobuf wire format, as a caller sends it. Bytes that do not parse are
// skipped, as gRPC would reject them. Runs the matching Validate* function
// and aborts when an accepted request breaks a documented limit (checked
// here independently), or when a rejection is not kInvalidArgument naming a
// field on one line, or quotes the token being revoked.
void FuzzRequestValidation(const uint8_t* data, size_t size);

}  // namespace fuzz
}  // namespace tokenservice

#endif  // FUZZ_REQUEST_VALIDATION_HARNESS_H_
