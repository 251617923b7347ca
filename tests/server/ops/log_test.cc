#include "server/ops/log.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tokenservice {
namespace {

class LogTest : public ::testing::Test {
 protected:
  LogTest() {
    SetLogSinkForTesting(
        [this](absl::string_view line) { lines_.emplace_back(line); });
  }
  ~LogTest() override {
    SetLogSinkForTesting(nullptr);
    SetMinLogLevel(LogLevel::kInfo);
  }
  std::vector<std::string> lines_;
};

TEST_F(LogTest, WritesOneJsonObjectWithEscapedFields) {
  Log(LogLevel::kWarning, "upstream_failed", "myPOS said \"no\"",
      {{"profile", "a\"b\\c\nd"}, {"code", "UNAVAILABLE"}});
  ASSERT_EQ(lines_.size(), 1u);
  const std::string& line = lines_[0];
  EXPECT_EQ(line.front(), '{');
  EXPECT_EQ(line.back(), '}');
  EXPECT_NE(line.find("\"profile\":\"a\\\"b\\\\c\\u000ad\""),
            std::string::npos);
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

// The convention docs/operations.md states: time, severity, message,
// event, then the fields, numbers as JSON numbers.
TEST_F(LogTest, TimeSeverityMessageEventThenFieldsWithJsonNumbers) {
  Log(LogLevel::kWarning, "upstream_retry", "retrying",
      {{"attempt", 2},
       {"backoff_ms", int64_t{1500}},
       {"sent", false},
       {"code", "UNAVAILABLE"}});
  ASSERT_EQ(lines_.size(), 1u);
  const std::string& line = lines_[0];
  const size_t time = line.find("{\"time\":\"");
  const size_t severity = line.find(",\"severity\":\"WARNING\"");
  const size_t message = line.find(",\"message\":\"retrying\"");
  const size_t event = line.find(",\"event\":\"upstream_retry\"");
  const size_t fields = line.find(
      ",\"attempt\":2,\"backoff_ms\":1500,\"sent\":false,"
      "\"code\":\"UNAVAILABLE\"}");
  EXPECT_EQ(time, 0u) << line;
  EXPECT_NE(severity, std::string::npos) << line;
  EXPECT_LT(severity, message);
  EXPECT_LT(message, event);
  EXPECT_LT(event, fields);
  EXPECT_NE(fields, std::string::npos) << line;
}

TEST_F(LogTest, DropsLinesBelowMinimumLevel) {
  SetMinLogLevel(LogLevel::kWarning);
  EXPECT_FALSE(LogEnabled(LogLevel::kInfo));
  EXPECT_TRUE(LogEnabled(LogLevel::kError));
  Log(LogLevel::kInfo, "quiet", "not written");
  Log(LogLevel::kError, "loud", "written");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_NE(lines_[0].find("loud"), std::string::npos);
  EXPECT_NE(lines_[0].find("\"severity\":\"ERROR\""), std::string::npos);
}

TEST(ParseLogLevel, KnowsTheFourNames) {
  LogLevel level;
  EXPECT_TRUE(ParseLogLevel("debug", &level));
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_TRUE(ParseLogLevel("error", &level));
  EXPECT_EQ(level, LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("verbose", &level));
}

}  // namespace
}  // namespace tokenservice
