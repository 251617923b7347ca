// Fuzz harness for the configuration file (server/config/config_file.h).

#ifndef FUZZ_CONFIG_FILE_HARNESS_H_
#define FUZZ_CONFIG_FILE_HARNESS_H_

#include <cstddef>
#include <cstdint>

namespace tokenservice {
namespace fuzz {

// Input: the text of a config file (proto/config.proto, text format). Loads
// it with LoadConfigFile and aborts when the contract breaks: a rejected file
// gets kInvalidArgument naming the file, on one line, without the
// value of a secret; an accepted one has unique valid profile names, every
// id and secret resolved, valid default scopes, and a default profile that
// exists.
//
// Secret files resolve in a scratch directory that the first call creates
// under $TEST_TMPDIR or /tmp (it holds "secret", "id" and "empty"): a text
// that names files is parsed, its relative paths moved there, and resolved
// with ResolveConfig; inputs naming a file outside it (absolute, or with
// "..") are skipped, so the fuzzer never opens anything else. Any other
// text goes through LoadConfigFile from a file. Environment variables come
// from a fixed fake environment (ID, SECRET, EMPTY).
void FuzzConfigFile(const uint8_t* data, size_t size);

}  // namespace fuzz
}  // namespace tokenservice

#endif  // FUZZ_CONFIG_FILE_HARNESS_H_
