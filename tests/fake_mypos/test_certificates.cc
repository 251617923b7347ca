#include "tests/fake_mypos/test_certificates.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tokenservice {
namespace {

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Cert = std::unique_ptr<X509, decltype(&X509_free)>;

Key NewKey() { return Key(EVP_EC_gen("P-256"), &EVP_PKEY_free); }

bool AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) return false;
  const bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A certificate for `key` named `cn`, signed by `issuer_key` (and named by
// `issuer`, or self-signed when it is null).
Cert NewCert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key,
             long serial, bool ca) {
  Cert cert(X509_new(), &X509_free);
  if (cert == nullptr) return cert;
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1,
                             0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));
  const bool ok =
      ca ? AddExtension(cert.get(), signer, NID_basic_constraints,
                        "critical,CA:TRUE") &&
               AddExtension(cert.get(), signer, NID_key_usage,
                            "critical,keyCertSign,cRLSign") &&
               AddExtension(cert.get(), signer, NID_subject_key_identifier,
                            "hash")
         : AddExtension(cert.get(), signer, NID_basic_constraints,
                        "CA:FALSE") &&
               AddExtension(cert.get(), signer, NID_subject_alt_name,
                            "IP:127.0.0.1,DNS:localhost") &&
               AddExtension(cert.get(), signer, NID_ext_key_usage,
                            "serverAuth");
  if (!ok || X509_sign(cert.get(), issuer_key, EVP_sha256()) == 0) {
    cert.reset();
  }
  return cert;
}

absl::Status WritePem(const std::string& path, X509* cert, EVP_PKEY* key) {
  FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot write ", path));
  }
  const bool ok = cert != nullptr
                      ? PEM_write_X509(file, cert) == 1
                      : PEM_write_PrivateKey(file, key, nullptr, nullptr, 0,
                                             nullptr, nullptr) == 1;
  std::fclose(file);
  return ok ? absl::OkStatus()
            : absl::UnavailableError(absl::StrCat("cannot write ", path));
}

}  // namespace

absl::StatusOr<TestCertificates> MakeTestCertificates(const std::string& dir) {
  Key ca_key = NewKey(), server_key = NewKey(), other_key = NewKey();
  if (!ca_key || !server_key || !other_key) {
    return absl::InternalError("cannot make test keys");
  }
  Cert ca = NewCert(ca_key.get(), "TokenService test CA", nullptr, ca_key.get(),
                    1, true);
  Cert other = NewCert(other_key.get(), "Untrusted test CA", nullptr,
                       other_key.get(), 2, true);
  if (!ca || !other) return absl::InternalError("cannot make test CAs");
  Cert server =
      NewCert(server_key.get(), "127.0.0.1", ca.get(), ca_key.get(), 3, false);
  if (!server) return absl::InternalError("cannot make test certificate");

  TestCertificates files{dir + "/ca.pem", dir + "/server.pem",
                         dir + "/server.key", dir + "/other_ca.pem"};
  for (absl::Status s :
       {WritePem(files.ca_file, ca.get(), nullptr),
        WritePem(files.server_cert_file, server.get(), nullptr),
        WritePem(files.server_key_file, nullptr, server_key.get()),
        WritePem(files.other_ca_file, other.get(), nullptr)}) {
    if (!s.ok()) return s;
  }
  return files;
}

}  // namespace tokenservice
