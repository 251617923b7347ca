// IssueReply: the IssueResponse for a token, as a message and as the bytes
// a cache hit sends.
//
// Why bytes: a cache hit is the hot path, and on it building the reply
// message and having gRPC serialize it cost more than the rest of our work
// together (BENCHMARKS.md). Everything in a hit's reply is fixed when the
// token is stored, so it is serialized once then, and each hit copies the
// bytes into its gRPC reply.

#ifndef SERVER_BROKER_ISSUE_REPLY_H_
#define SERVER_BROKER_ISSUE_REPLY_H_

#include <string>

#include "proto/token_service.pb.h"
#include "server/broker/token_cache.h"

namespace tokenservice {

// `token`'s IssueResponse; `cached` says whether it came from the cache.
void FillIssueResponse(const CachedToken& token, bool cached,
                       mypos::token::v1::IssueResponse* response);

// The ExchangeGrantResponse for a token a user's grant bought, with the
// `refresh_token` myPOS returned (may be empty).
void FillExchangeGrantResponse(
    const CachedToken& token, const std::string& refresh_token,
    mypos::token::v1::ExchangeGrantResponse* response);

// FillIssueResponse(token, /*cached=*/true), serialized.
std::string SerializeHitReply(const CachedToken& token);

}  // namespace tokenservice

#endif  // SERVER_BROKER_ISSUE_REPLY_H_
