#include "client/output.h"

#include "gtest/gtest.h"
#include "proto/token_service.pb.h"

namespace tokenservice {
namespace {

namespace v1 = ::mypos::token::v1;

v1::IssueResponse Reply() {
  v1::IssueResponse reply;
  reply.set_access_token("tok");
  reply.set_token_type("Bearer");
  reply.mutable_expire_time()->set_seconds(1800000000);
  reply.add_scopes("a");
  reply.add_scopes("b");
  reply.set_cached(true);
  return reply;
}

TEST(FormatHuman, PrintsOneLinePerSetFieldWithReadableTimes) {
  EXPECT_EQ(FormatHuman(Reply()),
            "access_token: tok\n"
            "token_type: Bearer\n"
            "expire_time: 2027-01-15T08:00:00Z\n"
            "scopes: a b\n"
            "cached: true\n");
}

TEST(FormatHuman, IndentsRepeatedMessagesAndNamesEnums) {
  v1::ListTokensResponse list;
  v1::TokenInfo* info = list.add_tokens();
  info->set_fingerprint("0123456789abcdef");
  info->set_state(v1::TOKEN_STATE_REVOKED);
  info->mutable_upstream_latency()->set_nanos(2000000);
  EXPECT_EQ(FormatHuman(list),
            "- tokens:\n"
            "  fingerprint: 0123456789abcdef\n"
            "  state: TOKEN_STATE_REVOKED\n"
            "  upstream_latency: 0.002s\n");
}

TEST(FormatJson, UsesProtoFieldNames) {
  EXPECT_EQ(FormatJson(Reply()),
            "{\"access_token\":\"tok\",\"token_type\":\"Bearer\","
            "\"expire_time\":\"2027-01-15T08:00:00Z\",\"scopes\":[\"a\",\"b\"],"
            "\"cached\":true}");
}

}  // namespace
}  // namespace tokenservice
