#include "server/broker/revocation_list.h"

#include "gtest/gtest.h"
#include "tests/base/fake_clock.h"

namespace tokenservice {
namespace {

TEST(LocalRevocationList, ContainsAFingerprintUntilItsTokenExpires) {
  FakeClock clock;
  LocalRevocationList list(&clock);
  const absl::Time expires = clock.Now() + absl::Hours(1);
  list.Add("fp", expires);
  EXPECT_TRUE(list.Contains("fp", clock.Now()));
  EXPECT_TRUE(list.Contains("fp", expires - absl::Nanoseconds(1)));
  EXPECT_FALSE(list.Contains("fp", expires));
  EXPECT_FALSE(list.Contains("other", clock.Now()));
}

TEST(LocalRevocationList, ALaterExpiryWins) {
  FakeClock clock;
  LocalRevocationList list(&clock);
  list.Add("fp", clock.Now() + absl::Hours(2));
  list.Add("fp", clock.Now() + absl::Hours(1));
  EXPECT_TRUE(list.Contains("fp", clock.Now() + absl::Minutes(90)));
}

TEST(LocalRevocationList, AddingDropsWhatExpired) {
  FakeClock clock;
  LocalRevocationList list(&clock);
  list.Add("a", clock.Now() + absl::Minutes(1));
  list.Add("b", clock.Now() + absl::Hours(1));
  EXPECT_EQ(list.size(), 2u);
  clock.Advance(absl::Minutes(2));
  list.Add("c", clock.Now() + absl::Hours(1));
  EXPECT_EQ(list.size(), 2u);  // "a" went
  EXPECT_TRUE(list.Contains("b", clock.Now()));
}

}  // namespace
}  // namespace tokenservice
