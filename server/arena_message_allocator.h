// ArenaMessageAllocator: gives each call of a callback unary method its
// request and response on a protobuf Arena whose first block lives inside
// the per-call holder, so parsing the request and filling the response
// (strings, Timestamps) costs one allocation per call instead of one per
// field. Register with the generated SetMessageAllocatorFor_<Method>; it
// must outlive the server.

#ifndef SERVER_ARENA_MESSAGE_ALLOCATOR_H_
#define SERVER_ARENA_MESSAGE_ALLOCATOR_H_

#include <cstddef>

#include <google/protobuf/arena.h>
#include <grpcpp/support/message_allocator.h>

namespace tokenservice {

// `kInlineBytes` should hold a typical request and response together; a
// bigger call grows the arena from the heap as usual.
template <typename Request, typename Response, size_t kInlineBytes = 1024>
class ArenaMessageAllocator final
    : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override {
    return new Holder();
  }

 private:
  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    Holder() : arena_(Options(block_)) {
      this->set_request(
          google::protobuf::Arena::CreateMessage<Request>(&arena_));
      this->set_response(
          google::protobuf::Arena::CreateMessage<Response>(&arena_));
    }
    void Release() override { delete this; }

   private:
    static google::protobuf::ArenaOptions Options(char* block) {
      google::protobuf::ArenaOptions options;
      options.initial_block = block;
      options.initial_block_size = kInlineBytes;
      return options;
    }

    // Declared before arena_, which uses it as its first block.
    alignas(std::max_align_t) char block_[kInlineBytes];
    google::protobuf::Arena arena_;
  };
};

}  // namespace tokenservice

#endif  // SERVER_ARENA_MESSAGE_ALLOCATOR_H_
