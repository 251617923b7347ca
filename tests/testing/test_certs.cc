#include "tests/testing/test_certs.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "absl/strings/str_join.h"

namespace tokenservice {
namespace {

EVP_PKEY* NewKey() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) throw std::runtime_error("EVP_EC_gen failed");
  return key;
}

std::string Pem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, n);
  BIO_free(bio);
  return out;
}

std::string Pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, n);
  BIO_free(bio);
  return out;
}

void AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) throw std::runtime_error("bad extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509* NewCert(const std::string& cn, long serial, EVP_PKEY* subject_key,
              X509* issuer, EVP_PKEY* issuer_key, bool ca,
              const std::vector<std::string>& sans) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
  X509_set_pubkey(cert, subject_key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(
      cert, issuer != nullptr ? X509_get_subject_name(issuer) : name);
  X509* issuer_cert = issuer != nullptr ? issuer : cert;
  AddExtension(cert, issuer_cert, NID_basic_constraints,
               ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  AddExtension(cert, issuer_cert, NID_key_usage,
               ca ? "critical,keyCertSign,cRLSign"
                  : "critical,digitalSignature,keyEncipherment");
  if (!ca)
    AddExtension(cert, issuer_cert, NID_ext_key_usage, "serverAuth,clientAuth");
  if (!sans.empty()) {
    AddExtension(cert, issuer_cert, NID_subject_alt_name,
                 absl::StrJoin(sans, ","));
  }
  X509_sign(cert, issuer_key, EVP_sha256());
  return cert;
}

}  // namespace

TestCertificateAuthority::TestCertificateAuthority(const std::string& name) {
  EVP_PKEY* key = NewKey();
  X509* cert = NewCert(name, serial_++, key, nullptr, key, true, {});
  key_ = key;
  cert_ = cert;
  ca_ = {Pem(cert), Pem(key)};
}

TestCertificateAuthority::~TestCertificateAuthority() {
  X509_free(static_cast<X509*>(cert_));
  EVP_PKEY_free(static_cast<EVP_PKEY*>(key_));
}

PemKeyPair TestCertificateAuthority::Issue(
    const std::string& common_name, const std::vector<std::string>& sans) {
  EVP_PKEY* key = NewKey();
  X509* cert = NewCert(common_name, serial_++, key, static_cast<X509*>(cert_),
                       static_cast<EVP_PKEY*>(key_), false, sans);
  PemKeyPair pair{Pem(cert), Pem(key)};
  X509_free(cert);
  EVP_PKEY_free(key);
  return pair;
}

void WriteFileAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp, std::ios::binary | std::ios::trunc) << content;
  std::rename(tmp.c_str(), path.c_str());
}

}  // namespace tokenservice
