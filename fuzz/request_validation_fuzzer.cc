// libFuzzer entry point for FuzzRequestValidation
// (request_validation_harness.h). Built by scripts/fuzz.sh with clang; the
// replay test runs the same harness.

#include <cstddef>
#include <cstdint>

#include "fuzz/request_validation_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tokenservice::fuzz::FuzzRequestValidation(data, size);
  return 0;
}
