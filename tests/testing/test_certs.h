// Test certificates made on the fly with OpenSSL: a CA, and leaf
// certificates it signs with the subject alternative names a test needs.
// Nothing here is committed key material.

#ifndef TESTS_TESTING_TEST_CERTS_H_
#define TESTS_TESTING_TEST_CERTS_H_

#include <string>
#include <vector>

namespace tokenservice {

struct PemKeyPair {
  std::string certificate;  // PEM
  std::string private_key;  // PEM
};

// Thread-compatible.
class TestCertificateAuthority {
 public:
  explicit TestCertificateAuthority(const std::string& name);
  ~TestCertificateAuthority();
  TestCertificateAuthority(const TestCertificateAuthority&) = delete;
  TestCertificateAuthority& operator=(const TestCertificateAuthority&) = delete;

  // The CA certificate, PEM.
  const std::string& certificate() const { return ca_.certificate; }

  // A leaf certificate signed by this CA. `sans` are OpenSSL SAN entries:
  // "DNS:localhost", "IP:127.0.0.1", "URI:spiffe://example/caller".
  PemKeyPair Issue(const std::string& common_name,
                   const std::vector<std::string>& sans);

 private:
  void* key_;   // EVP_PKEY*
  void* cert_;  // X509*
  PemKeyPair ca_;
  long serial_ = 1;
};

// Writes `content` to `path`, replacing it atomically.
void WriteFileAtomically(const std::string& path, const std::string& content);

}  // namespace tokenservice

#endif  // TESTS_TESTING_TEST_CERTS_H_
