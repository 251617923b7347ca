#include "server/broker/revocation_feed.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tokenservice {
namespace {

using ::testing::ElementsAre;

TEST(RevocationFeedTest, EverySubscriberHearsEachFingerprintUntilItLeaves) {
  RevocationFeed feed;
  std::vector<std::string> first, second;
  const uint64_t a = feed.Subscribe(
      [&first](absl::string_view fp) { first.emplace_back(fp); });
  feed.Publish("0000000000000001");
  const uint64_t b = feed.Subscribe(
      [&second](absl::string_view fp) { second.emplace_back(fp); });
  EXPECT_EQ(feed.subscribers(), 2u);
  feed.Publish("0000000000000002");
  feed.Unsubscribe(a);
  feed.Publish("0000000000000003");
  feed.Unsubscribe(b);
  feed.Publish("0000000000000004");
  EXPECT_THAT(first, ElementsAre("0000000000000001", "0000000000000002"));
  EXPECT_THAT(second, ElementsAre("0000000000000002", "0000000000000003"));
  EXPECT_EQ(feed.subscribers(), 0u);
}

}  // namespace
}  // namespace tokenservice
