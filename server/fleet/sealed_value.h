// Sealed values: how a replica writes a token to etcd so that etcd, its
// backups and anyone who can read them hold nothing usable.
//
// Seal encrypts with AES-256-GCM under the keyring's active key and a
// random 96-bit nonce per write. The associated data binds the ciphertext
// to the etcd key it is written under and to the key id, so a value copied
// to another key, or relabelled with another key id, does not open. The
// layout (all of it is the etcd value):
//
//   version (1 byte, 1) | id length n (1 byte) | key id (n bytes) |
//   nonce (12 bytes) | ciphertext | GCM tag (16 bytes)
//
// Errors never carry the plaintext or a key's bytes.

#ifndef SERVER_FLEET_SEALED_VALUE_H_
#define SERVER_FLEET_SEALED_VALUE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/fleet/fleet_keyring.h"

namespace tokenservice {

// `plaintext` sealed for the etcd key `key_name` with `keyring`'s active
// key. kInternal only if OpenSSL fails (no randomness).
absl::StatusOr<std::string> Seal(const FleetKeyring& keyring,
                                 absl::string_view key_name,
                                 absl::string_view plaintext);

// The plaintext of `sealed`, read from the etcd key `key_name`.
// kFailedPrecondition when it names a key id `keyring` lacks (the message
// names the id: a replica that has not loaded a new key yet);
// kDataLoss when it is malformed, was altered, or was sealed for another
// etcd key.
absl::StatusOr<std::string> Unseal(const FleetKeyring& keyring,
                                   absl::string_view key_name,
                                   absl::string_view sealed);

}  // namespace tokenservice

#endif  // SERVER_FLEET_SEALED_VALUE_H_
