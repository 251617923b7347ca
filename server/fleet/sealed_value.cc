#include "server/fleet/sealed_value.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace tokenservice {
namespace {

constexpr char kVersion = 1;
constexpr int kNonceBytes = 12;
constexpr int kTagBytes = 16;

using CipherContext =
    std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// What the tag authenticates besides the ciphertext: a label for this
// format, the etcd key and the key id, each followed by a NUL (neither may
// contain one: etcd keys we write are hex, ids are checked).
std::string AssociatedData(absl::string_view key_name,
                           absl::string_view key_id) {
  return absl::StrCat("tokenservice.fleet.v1", absl::string_view("\0", 1),
                      key_name, absl::string_view("\0", 1), key_id);
}

absl::Status DataLoss(absl::string_view key_name, absl::string_view what) {
  return absl::DataLossError(absl::StrCat(
      "the value of etcd key \"", absl::CHexEscape(key_name), "\" ", what));
}

}  // namespace

absl::StatusOr<std::string> Seal(const FleetKeyring& keyring,
                                 absl::string_view key_name,
                                 absl::string_view plaintext) {
  const std::string& id = keyring.active_id();
  const std::string& key = keyring.active_key();
  std::string sealed;
  sealed.resize(2 + id.size() + kNonceBytes + plaintext.size() + kTagBytes);
  sealed[0] = kVersion;
  sealed[1] = static_cast<char>(id.size());
  sealed.replace(2, id.size(), id);
  auto* nonce = reinterpret_cast<unsigned char*>(&sealed[2 + id.size()]);
  unsigned char* out = nonce + kNonceBytes;
  unsigned char* tag = out + plaintext.size();
  const std::string aad = AssociatedData(key_name, id);

  CipherContext ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int len = 0;
  if (ctx == nullptr || RAND_bytes(nonce, kNonceBytes) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, Bytes(key),
                         nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, Bytes(aad),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out, &len, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, tag) !=
          1) {
    return absl::InternalError("AES-256-GCM encryption failed in OpenSSL");
  }
  return sealed;
}

absl::StatusOr<std::string> Unseal(const FleetKeyring& keyring,
                                   absl::string_view key_name,
                                   absl::string_view sealed) {
  if (sealed.size() < 2 || sealed[0] != kVersion) {
    return DataLoss(key_name, "is no sealed value of version 1");
  }
  const size_t id_size = static_cast<unsigned char>(sealed[1]);
  if (sealed.size() < 2 + id_size + kNonceBytes + kTagBytes) {
    return DataLoss(key_name, "is truncated");
  }
  const absl::string_view id = sealed.substr(2, id_size);
  const std::string* key = keyring.Find(id);
  if (key == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("the value of etcd key \"", absl::CHexEscape(key_name),
                     "\" is sealed with key \"", absl::CHexEscape(id),
                     "\", which --fleet_keys_dir does not hold"));
  }
  const absl::string_view nonce = sealed.substr(2 + id_size, kNonceBytes);
  const absl::string_view rest = sealed.substr(2 + id_size + kNonceBytes);
  const absl::string_view ciphertext = rest.substr(0, rest.size() - kTagBytes);
  std::string tag(rest.substr(ciphertext.size()));
  const std::string aad = AssociatedData(key_name, id);

  std::string plaintext(ciphertext.size(), '\0');
  auto* out = reinterpret_cast<unsigned char*>(plaintext.data());
  CipherContext ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int len = 0;
  if (ctx == nullptr ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, Bytes(*key),
                         Bytes(nonce)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, Bytes(aad),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), out, &len, Bytes(ciphertext),
                        static_cast<int>(ciphertext.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes,
                          tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), out + len, &len) != 1) {
    return DataLoss(key_name,
                    "does not authenticate: altered, or sealed for another "
                    "etcd key");
  }
  return plaintext;
}

}  // namespace tokenservice
