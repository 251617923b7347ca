#include "fake_mypos/oauth_reply.h"

#include <httplib.h>

#include <string>

#include "gtest/gtest.h"

namespace tokenservice {
namespace fake_mypos {
namespace {

TEST(WriteTokenReply, WritesNumericExpiresInAndJoinedScopes) {
  httplib::Response res;
  WriteTokenReply(res, "tok", 3600, false, {"a", "b"});
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.body, R"({"access_token":"tok","token_type":"Bearer",)"
                      R"("expires_in":3600,"scope":"a b"})");
  EXPECT_EQ(res.get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(res.get_header_value("Cache-Control"), "no-store");
  EXPECT_EQ(res.get_header_value("Pragma"), "no-cache");
}

TEST(WriteTokenReply, WritesExpiresInAsStringWhenAsked) {
  httplib::Response res;
  WriteTokenReply(res, "tok", 90, true, {});
  EXPECT_EQ(res.body, R"({"access_token":"tok","token_type":"Bearer",)"
                      R"("expires_in":"90","scope":""})");
}

TEST(WriteInvalidClient, WritesBasicChallenge) {
  httplib::Response res;
  WriteInvalidClient(res);
  EXPECT_EQ(res.status, 401);
  EXPECT_EQ(res.body, R"({"error":"invalid_client"})");
  EXPECT_EQ(res.get_header_value("WWW-Authenticate"), R"(Basic realm="myPOS")");
}

TEST(WriteInvalidToken, WritesBearerChallenge) {
  httplib::Response res;
  WriteInvalidToken(res);
  EXPECT_EQ(res.status, 401);
  EXPECT_EQ(res.body, R"({"error":"invalid_token"})");
  EXPECT_EQ(res.get_header_value("WWW-Authenticate"),
            R"(Bearer error="invalid_token")");
}

TEST(WriteFault, TypesBodyByGivenContentTypeOnce) {
  httplib::Response res;
  WriteFault(res, 503, "busy",
             {{"content-type", "text/plain"}, {"Retry-After", "2"}});
  EXPECT_EQ(res.status, 503);
  EXPECT_EQ(res.body, "busy");
  EXPECT_EQ(res.get_header_value_count("Content-Type"), 1u);
  EXPECT_EQ(res.get_header_value("Content-Type"), "text/plain");
  EXPECT_EQ(res.get_header_value("Retry-After"), "2");
}

TEST(WriteFault, EmptyBodyHasNoContentType) {
  httplib::Response res;
  WriteFault(res, 500, "", {});
  EXPECT_EQ(res.status, 500);
  EXPECT_EQ(res.body, "");
  EXPECT_FALSE(res.has_header("Content-Type"));
}

}  // namespace
}  // namespace fake_mypos
}  // namespace tokenservice
