// TestCertificates: a throw-away PKI made by the test itself, for HTTPS
// between TokenService and the fake myPOS on loopback.
//
// Makes, with OpenSSL, a CA and a server certificate it signs (for
// 127.0.0.1 and localhost, valid for a day), plus a second, unrelated CA
// that trusts nothing the server presents. All P-256 keys, PEM files.

#ifndef TESTS_FAKE_MYPOS_TEST_CERTIFICATES_H_
#define TESTS_FAKE_MYPOS_TEST_CERTIFICATES_H_

#include <string>

#include "absl/status/statusor.h"

namespace tokenservice {

struct TestCertificates {
  std::string ca_file;  // the CA that signed the server certificate
  std::string server_cert_file;
  std::string server_key_file;
  std::string other_ca_file;  // a CA that did not
};

// Writes the files into `dir` (which must exist). Internal on an OpenSSL
// failure, Unavailable when a file cannot be written.
absl::StatusOr<TestCertificates> MakeTestCertificates(const std::string& dir);

}  // namespace tokenservice

#endif  // TESTS_FAKE_MYPOS_TEST_CERTIFICATES_H_
