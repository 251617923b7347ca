// KeyDir: a --fleet_keys_dir for a test, in a fresh directory under
// TEST_TMPDIR, removed with it.
//
//   KeyDir dir;
//   dir.AddKey("k1");            // 32 random bytes, base64, as documented
//   dir.Activate("k1");
//   auto keyring = FleetKeyring::Load(dir.path());

#ifndef TESTS_SERVER_FLEET_KEY_DIR_H_
#define TESTS_SERVER_FLEET_KEY_DIR_H_

#include <string>

#include "absl/strings/string_view.h"

namespace tokenservice {

class KeyDir {
 public:
  KeyDir();
  ~KeyDir();
  KeyDir(const KeyDir&) = delete;
  KeyDir& operator=(const KeyDir&) = delete;

  const std::string& path() const { return path_; }

  // Writes a new random key called `id`; returns its base64 text.
  std::string AddKey(absl::string_view id);
  // Writes `content` to the file `name` as it is.
  void Write(absl::string_view name, absl::string_view content);
  // Makes `id` the active key.
  void Activate(absl::string_view id) {
    Write("active", std::string(id) + "\n");
  }
  void Remove(absl::string_view name);

 private:
  std::string path_;
};

}  // namespace tokenservice

#endif  // TESTS_SERVER_FLEET_KEY_DIR_H_
