#include "server/arena_message_allocator.h"

#include <string>

#include "gtest/gtest.h"
#include "proto/token_service.pb.h"

namespace tokenservice {
namespace {

using mypos::token::v1::IssueRequest;
using mypos::token::v1::IssueResponse;

TEST(ArenaMessageAllocatorTest, EachCallGetsItsOwnMessagesOnAnArena) {
  ArenaMessageAllocator<IssueRequest, IssueResponse> allocator;
  auto* first = allocator.AllocateMessages();
  auto* second = allocator.AllocateMessages();
  ASSERT_NE(first->request(), nullptr);
  ASSERT_NE(first->response(), nullptr);
  EXPECT_NE(first->request()->GetArena(), nullptr);
  EXPECT_EQ(first->request()->GetArena(), first->response()->GetArena());
  EXPECT_NE(first->request()->GetArena(), second->request()->GetArena());
  EXPECT_NE(first->response(), second->response());
  first->Release();
  second->Release();
}

TEST(ArenaMessageAllocatorTest, MessagesLargerThanTheInlineBlockWork) {
  // ASan checks the arena grows past the inline block and frees it all.
  ArenaMessageAllocator<IssueRequest, IssueResponse, 256> allocator;
  auto* holder = allocator.AllocateMessages();
  const std::string big(10000, 't');
  holder->response()->set_access_token(big);
  for (int i = 0; i < 100; ++i) holder->request()->add_scopes("scope");
  IssueResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(holder->response()->SerializeAsString()));
  EXPECT_EQ(parsed.access_token(), big);
  EXPECT_EQ(holder->request()->scopes_size(), 100);
  holder->Release();
}

}  // namespace
}  // namespace tokenservice
