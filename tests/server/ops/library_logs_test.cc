#include "server/ops/library_logs.h"

#include <google/protobuf/stubs/logging.h>
#include <grpc/grpc.h>
#include <grpc/support/log.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/ops/log.h"
#include "tests/testing/log_capture.h"

namespace tokenservice {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class LibraryLogsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetMinLogLevel(LogLevel::kDebug);
    RouteLibraryLogsToJson();
  }
  void TearDown() override { SetMinLogLevel(LogLevel::kInfo); }
  LogCapture log_;
};

TEST_F(LibraryLogsTest, ProtobufLinesBecomeJsonAtDebugLevel) {
  GOOGLE_LOG(ERROR) << "String field contains invalid UTF-8 data";
  EXPECT_THAT(log_.Lines(),
              ElementsAre(AllOf(HasSubstr("\"severity\":\"DEBUG\""),
                                HasSubstr("\"event\":\"protobuf_log\""),
                                HasSubstr("invalid UTF-8 data"))));
}

TEST_F(LibraryLogsTest, GrpcCoreErrorsBecomeJsonErrors) {
  grpc_init();  // as any server has; it reads GRPC_VERBOSITY (ERROR)
  gpr_log(GPR_ERROR, "address %s in use", "127.0.0.1:1");
  EXPECT_THAT(log_.Lines(),
              ElementsAre(AllOf(HasSubstr("\"severity\":\"ERROR\""),
                                HasSubstr("\"event\":\"grpc_log\""),
                                HasSubstr("127.0.0.1:1 in use"))));
  grpc_shutdown();
}

}  // namespace
}  // namespace tokenservice
