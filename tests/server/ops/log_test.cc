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
  Log(LogLevel::kWarning, "upstream_failed",
      {{"profile", "a\"b\\c\nd"}, {"code", "UNAVAILABLE"}});
  ASSERT_EQ(lines_.size(), 1u);
  const std::string& line = lines_[0];
  EXPECT_EQ(line.front(), '{');
  EXPECT_EQ(line.back(), '}');
  EXPECT_NE(line.find("\"level\":\"warning\""), std::string::npos);
  EXPECT_NE(line.find("\"event\":\"upstream_failed\""), std::string::npos);
  EXPECT_NE(line.find("\"profile\":\"a\\\"b\\\\c\\u000ad\""),
            std::string::npos);
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST_F(LogTest, DropsLinesBelowMinimumLevel) {
  SetMinLogLevel(LogLevel::kWarning);
  Log(LogLevel::kInfo, "quiet");
  Log(LogLevel::kError, "loud");
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_NE(lines_[0].find("loud"), std::string::npos);
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
