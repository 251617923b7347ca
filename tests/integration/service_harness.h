// ServiceHarness: the real TokenServer on loopback against a FakeMyposServer,
// for integration tests of the upstream path. It captures every log line,
// times each call, reads google.rpc.ErrorInfo from the status details, and
// checks at the end that no canary secret or token reached a log line or a
// status message.

#ifndef TESTS_INTEGRATION_SERVICE_HARNESS_H_
#define TESTS_INTEGRATION_SERVICE_HARNESS_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "base/mutex.h"
#include "fake_mypos/fake_mypos_server.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"
#include "proto/token_service.grpc.pb.h"
#include "server/token_server.h"
#include "tests/testing/log_capture.h"

namespace tokenservice {

// Credentials the fake accepts. The secret is a canary: its prefix must
// never show up in a log line or a status message.
inline constexpr char kHarnessClientId[] = "it-client";
inline constexpr char kCanarySecret[] = "canary-S3cr:t+/&=";
inline constexpr char kCanaryPrefix[] = "canary-";

// One finished call.
template <typename Response>
struct FinishedCall {
  grpc::Status status;
  Response response;
  absl::Duration elapsed;
  absl::Duration deadline;      // as given to the call
  google::rpc::ErrorInfo info;  // from the status details; empty if OK
  // The RetryInfo's delay in the status details, and the
  // grpc-retry-pushback-ms trailer; nullopt / empty when absent.
  std::optional<absl::Duration> retry_delay;
  std::string pushback_ms;
};
using IssueCall = FinishedCall<mypos::token::v1::IssueResponse>;
using ExchangeCall = FinishedCall<mypos::token::v1::ExchangeGrantResponse>;

class ServiceHarness : public ::testing::Test {
 protected:
  void TearDown() override;

  // Starts the fake myPOS (TLS when both files are set).
  void StartFake(std::string tls_cert_file = "", std::string tls_key_file = "");
  // Starts the fake myPOS with its options changed by `customize`.
  void StartFake(std::function<void(FakeMyposServer::Options&)> customize);

  // (Re)starts TokenServer against `base_url` (the fake's by default) with
  // quick retries (3 attempts, 10-50 ms backoff, Retry-After up to 3 s), a
  // 150 ms deadline margin, then `customize` applied to the config.
  void StartServer(std::function<void(ServerConfig&)> customize = nullptr,
                   std::string base_url = "");

  // Issue with a caller deadline of `deadline` from now. Records the access
  // token it returns as a canary for the log check.
  IssueCall Issue(const mypos::token::v1::IssueRequest& request,
                  absl::Duration deadline = absl::Seconds(5));

  // ExchangeGrant likewise; the access and refresh tokens become canaries.
  ExchangeCall Exchange(const mypos::token::v1::ExchangeGrantRequest& request,
                        absl::Duration deadline = absl::Seconds(5));

  // Log lines so far that contain `event` (as "event":"...").
  int LogEvents(const std::string& event);
  // Those lines themselves, in order.
  std::vector<std::string> LogLines(const std::string& event);

  // Adds `value` to the strings that must never be logged.
  void AddCanary(const std::string& value);

  std::unique_ptr<FakeMyposServer> fake_;
  std::unique_ptr<TokenServer> server_;
  std::unique_ptr<mypos::token::v1::TokenService::Stub> stub_;

 private:
  LogCapture log_;
  Mutex mu_;
  std::vector<std::string> canaries_ ABSL_GUARDED_BY(mu_);
};

// A request for scope `scope` (each scope is its own cache key).
mypos::token::v1::IssueRequest ScopeRequest(const std::string& scope);

}  // namespace tokenservice

#endif  // TESTS_INTEGRATION_SERVICE_HARNESS_H_
