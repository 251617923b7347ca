// Fuzz harness for the myPOS reply parser (server/upstream/oauth_reply.h).

#ifndef FUZZ_OAUTH_REPLY_HARNESS_H_
#define FUZZ_OAUTH_REPLY_HARNESS_H_

#include <cstddef>
#include <cstdint>

namespace tokenservice {
namespace fuzz {

// Input: two bytes of HTTP status (little-endian, taken modulo 700 so that
// every class from 0xx to 6xx comes up), then the reply body. Runs
// ParseTokenReply and ParseRevokeReply and aborts when the documented
// mapping is broken: OK tokens have a non-empty access_token, a token type
// and a positive expires_in; errors carry the documented code and a reason;
// no message contains the body's secrets or spans more than one line.
void FuzzOAuthReply(const uint8_t* data, size_t size);

}  // namespace fuzz
}  // namespace tokenservice

#endif  // FUZZ_OAUTH_REPLY_HARNESS_H_
