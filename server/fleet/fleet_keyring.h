// FleetKeyring: the keys that encrypt every token a replica writes to etcd,
// as read from --fleet_keys_dir.
//
// Each regular file in the directory is one key: 32 random bytes in base64
// (`head -c 32 /dev/urandom | base64`), trailing CR/LF ignored; its file
// name is the key's id. The file `active` holds the id of the key new
// writes use. Names starting with '.' are skipped: a Kubernetes Secret
// volume keeps its real files under "..data" and links each key to them.
//
// A keyring is an immutable snapshot; FleetKeyring::Load reads the
// directory again, so a rotation (add a key, switch `active`, delete the
// old key) needs no restart. Errors name the directory and the file, never
// a key's bytes.

#ifndef SERVER_FLEET_FLEET_KEYRING_H_
#define SERVER_FLEET_FLEET_KEYRING_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tokenservice {

// The bytes of one AES-256 key.
inline constexpr int kFleetKeyBytes = 32;
// The file naming the active key.
inline constexpr char kActiveKeyFile[] = "active";

class FleetKeyring {
 public:
  // The keys in `dir`. kFailedPrecondition when the directory cannot be
  // listed, a key file is not 32 bytes in base64 or its name is no valid
  // id (at most 64 letters, digits, '-', '_', '.'), `active` is missing or
  // empty, or names no key in the directory.
  static absl::StatusOr<FleetKeyring> Load(const std::string& dir);

  // The id and bytes of the key new writes use.
  const std::string& active_id() const { return active_id_; }
  const std::string& active_key() const { return keys_.at(active_id_); }

  // The bytes of the key called `id`, or null if the keyring has none.
  const std::string* Find(absl::string_view id) const;

  // Every key's id, sorted.
  std::vector<std::string> ids() const;

 private:
  FleetKeyring() = default;

  std::map<std::string, std::string, std::less<>> keys_;
  std::string active_id_;
};

}  // namespace tokenservice

#endif  // SERVER_FLEET_FLEET_KEYRING_H_
