// gMock matchers for statuses, shared by every test.
//
//   EXPECT_THAT(status_or, StatusIs(absl::StatusCode::kNotFound));
//   EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable,
//                                kReasonUpstreamUnavailable));
//   EXPECT_THAT(grpc_status, GrpcStatusIs(grpc::StatusCode::UNAVAILABLE,
//                                         "UPSTREAM_UNAVAILABLE"));
//   EXPECT_THAT(status, MessageHas("client_id"));
//
// StatusIs takes an absl::Status or an absl::StatusOr<T> and compares the
// code and, when given, the reason (server/ops/error_reason.h) exactly.
// GrpcStatusIs takes a grpc::Status: the code and, when given, the reason
// of the google.rpc.ErrorInfo in its details, whose domain must then be
// "tokenservice". MessageHas takes any of the three. A failure explains
// itself with the code and the reason found.

#ifndef TESTS_TESTING_STATUS_MATCHERS_H_
#define TESTS_TESTING_STATUS_MATCHERS_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "server/ops/error_reason.h"

namespace tokenservice {
namespace testing_internal {

inline const absl::Status& ToStatus(const absl::Status& status) {
  return status;
}
template <typename T>
const absl::Status& ToStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

inline absl::string_view MessageOf(const grpc::Status& status) {
  return status.error_message();
}
template <typename S>
absl::string_view MessageOf(const S& status) {
  return ToStatus(status).message();
}

// The reason of the ErrorInfo in `status`'s details, with its domain;
// empty when there is none.
struct GrpcErrorInfo {
  std::string reason;
  std::string domain;
};
GrpcErrorInfo ErrorInfoOf(const grpc::Status& status);

}  // namespace testing_internal

MATCHER_P(StatusIs, code,
          std::string(negation ? "has no code " : "has code ") +
              absl::StatusCodeToString(code)) {
  const absl::Status& status = testing_internal::ToStatus(arg);
  *result_listener << "code " << absl::StatusCodeToString(status.code());
  return status.code() == code;
}

MATCHER_P2(StatusIs, code, reason,
           std::string(negation ? "has not " : "has ") + "code " +
               absl::StatusCodeToString(code) + " and reason " +
               std::string(reason)) {
  const absl::Status& status = testing_internal::ToStatus(arg);
  *result_listener << "code " << absl::StatusCodeToString(status.code())
                   << ", reason \"" << ErrorReason(status) << "\"";
  return status.code() == code && ErrorReason(status) == reason;
}

MATCHER_P(GrpcStatusIs, code,
          std::string(negation ? "has no " : "has ") + "gRPC code " +
              std::to_string(static_cast<int>(code))) {
  *result_listener << "gRPC code " << static_cast<int>(arg.error_code());
  return arg.error_code() == code;
}

MATCHER_P2(GrpcStatusIs, code, reason,
           std::string(negation ? "has not " : "has ") + "gRPC code " +
               std::to_string(static_cast<int>(code)) +
               " and ErrorInfo reason " + std::string(reason) +
               " in domain tokenservice") {
  const testing_internal::GrpcErrorInfo info =
      testing_internal::ErrorInfoOf(arg);
  *result_listener << "gRPC code " << static_cast<int>(arg.error_code())
                   << ", reason \"" << info.reason << "\", domain \""
                   << info.domain << "\"";
  return arg.error_code() == code && info.reason == reason &&
         info.domain == "tokenservice";
}

MATCHER_P(MessageHas, text,
          std::string(negation ? "has no message containing \""
                               : "has a message containing \"") +
              std::string(text) + "\"") {
  return absl::StrContains(testing_internal::MessageOf(arg), text);
}

}  // namespace tokenservice

#endif  // TESTS_TESTING_STATUS_MATCHERS_H_
