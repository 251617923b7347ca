// A gmock HttpTransport for tests of code that speaks HTTP.

#ifndef TESTS_SERVER_UPSTREAM_MOCK_HTTP_TRANSPORT_H_
#define TESTS_SERVER_UPSTREAM_MOCK_HTTP_TRANSPORT_H_

#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "server/upstream/http_transport.h"

namespace tokenservice {

// Thread-safe (as gmock mocks are).
class MockHttpTransport : public HttpTransport {
 public:
  MOCK_METHOD(absl::StatusOr<HttpResponse>, Post, (const HttpRequest& request),
              (override));
};

}  // namespace tokenservice

#endif  // TESTS_SERVER_UPSTREAM_MOCK_HTTP_TRANSPORT_H_
