// TokenServiceImpl: the gRPC face of the TokenBroker.
//
// Thin by design: validate the request, call the broker (or, for a user's
// grant, the GrantExchange), map the Status. The caller's gRPC deadline
// goes with the request. Cache hits finish on the handler's thread; misses
// finish their reactor when the broker's shared fetch completes, so no gRPC
// thread waits on myPOS.

#ifndef SERVER_TOKEN_SERVICE_IMPL_H_
#define SERVER_TOKEN_SERVICE_IMPL_H_

#include <grpcpp/grpcpp.h>

#include "proto/token_service.grpc.pb.h"
#include "server/grant_exchange.h"
#include "server/token_broker.h"

namespace tokenservice {

// Thread-safe. Borrows `broker` and `grants`, which must outlive the server.
class TokenServiceImpl final
    : public mypos::token::v1::TokenService::CallbackService {
 public:
  TokenServiceImpl(TokenBroker* broker, GrantExchange* grants)
      : broker_(broker), grants_(grants) {}

  grpc::ServerUnaryReactor* Issue(
      grpc::CallbackServerContext* context,
      const mypos::token::v1::IssueRequest* request,
      mypos::token::v1::IssueResponse* response) override;

  grpc::ServerUnaryReactor* Revoke(
      grpc::CallbackServerContext* context,
      const mypos::token::v1::RevokeRequest* request,
      mypos::token::v1::RevokeResponse* response) override;

  grpc::ServerUnaryReactor* GetTokenInfo(
      grpc::CallbackServerContext* context,
      const mypos::token::v1::GetTokenInfoRequest* request,
      mypos::token::v1::TokenInfo* response) override;

  grpc::ServerUnaryReactor* ListTokens(
      grpc::CallbackServerContext* context,
      const mypos::token::v1::ListTokensRequest* request,
      mypos::token::v1::ListTokensResponse* response) override;

 private:
  // Issue for AUTHORIZATION_CODE and REFRESH_TOKEN.
  void IssueWithGrant(grpc::ServerUnaryReactor* reactor,
                      const mypos::token::v1::IssueRequest& request,
                      absl::Time deadline,
                      mypos::token::v1::IssueResponse* response);

  TokenBroker* const broker_;
  GrantExchange* const grants_;
};

}  // namespace tokenservice

#endif  // SERVER_TOKEN_SERVICE_IMPL_H_
