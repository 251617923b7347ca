// libFuzzer entry point for FuzzOAuthReply (oauth_reply_harness.h). Built by
// scripts/fuzz.sh with clang; the replay test runs the same harness.

#include <cstddef>
#include <cstdint>

#include "fuzz/oauth_reply_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tokenservice::fuzz::FuzzOAuthReply(data, size);
  return 0;
}
