#include "server/rpc/grpc_server_metrics.h"

#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace tokenservice {
namespace {

std::string Text(const prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

TEST(GrpcServerMetrics, AServiceWithNoDescriptorIsAnErrorNotAGap) {
  prometheus::Registry registry;
  auto metrics = GrpcServerMetrics::Create(registry, {"no.such.Service"});
  EXPECT_EQ(metrics.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(metrics.status().message().find("no.such.Service"),
            std::string::npos);
}

TEST(GrpcServerMetrics, HandlerRecordedMethodsAreMarkedAndCount) {
  prometheus::Registry registry;
  auto metrics = GrpcServerMetrics::Create(registry, {"grpc.health.v1.Health"},
                                           {"mypos.token.v1.TokenService"});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  const auto& issue = (*metrics)->Find("/mypos.token.v1.TokenService/Issue");
  const auto& check = (*metrics)->Find("/grpc.health.v1.Health/Check");
  const auto& unknown = (*metrics)->Find("/mypos.token.v1.TokenService/Nope");
  // Issue's handler records it (no interceptor); health's calls need one.
  EXPECT_TRUE(issue.recorded_by_handler());
  EXPECT_FALSE(check.recorded_by_handler());
  EXPECT_FALSE(unknown.recorded_by_handler());
  EXPECT_NE(&unknown, &issue);
  EXPECT_EQ(&unknown, &(*metrics)->Find(""));
  // What the interceptor factory asks for every call says the same.
  for (const char* path :
       {"/mypos.token.v1.TokenService/Issue",
        "/mypos.token.v1.TokenService/WatchRevocations",
        "/mypos.token.v1.TokenService/Nope", "/mypos.token.v1.TokenService/",
        "/grpc.health.v1.Health/Check", ""}) {
    EXPECT_EQ((*metrics)->RecordedByHandler(path),
              (*metrics)->Find(path).recorded_by_handler())
        << path;
  }

  issue.Started();
  issue.Handled(static_cast<int>(absl::StatusCode::kUnavailable),
                absl::Microseconds(300));
  unknown.Started();
  unknown.Handled(12, absl::Microseconds(10));  // UNIMPLEMENTED
  const std::string text = Text(registry);
  const std::string issue_labels =
      "grpc_method=\"Issue\",grpc_service=\"mypos.token.v1.TokenService\","
      "grpc_type=\"unary\"";
  EXPECT_NE(text.find("grpc_server_started_total{" + issue_labels + "} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("grpc_server_handled_total{grpc_code=\"Unavailable\"," +
                      issue_labels + "} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("grpc_server_handled_total{grpc_code=\"OK\"," +
                      issue_labels + "} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("grpc_server_handled_total{grpc_code=\"Unimplemented\","
                      "grpc_method=\"unknown\",grpc_service=\"unknown\","
                      "grpc_type=\"unknown\"} 1\n"),
            std::string::npos);
  // The streaming methods' types as go-grpc-prometheus names them.
  EXPECT_NE(text.find("grpc_method=\"Watch\",grpc_service=\"grpc.health.v1."
                      "Health\",grpc_type=\"server_stream\""),
            std::string::npos);
}

}  // namespace
}  // namespace tokenservice
