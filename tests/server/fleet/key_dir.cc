#include "tests/server/fleet/key_dir.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace tokenservice {

KeyDir::KeyDir() {
  const char* tmp = getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(tmp ? tmp : "/tmp", "/keys.XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) abort();
  path_ = pattern;
}

KeyDir::~KeyDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string KeyDir::AddKey(absl::string_view id) {
  std::random_device random;
  std::string key(32, '\0');
  for (char& c : key) c = static_cast<char>(random());
  std::string text = absl::Base64Escape(key);
  Write(id, text + "\n");
  return text;
}

void KeyDir::Write(absl::string_view name, absl::string_view content) {
  std::ofstream(absl::StrCat(path_, "/", name),
                std::ios::binary | std::ios::trunc)
      << content;
}

void KeyDir::Remove(absl::string_view name) {
  std::filesystem::remove(absl::StrCat(path_, "/", name));
}

}  // namespace tokenservice
