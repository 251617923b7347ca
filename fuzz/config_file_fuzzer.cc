// libFuzzer entry point for FuzzConfigFile (config_file_harness.h). Built by
// scripts/fuzz.sh with clang; the replay test runs the same harness.

#include <cstddef>
#include <cstdint>

#include "fuzz/config_file_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tokenservice::fuzz::FuzzConfigFile(data, size);
  return 0;
}
