// RevocationStreams: the open WatchRevocations streams of one server, each
// a gRPC callback reactor fed by the broker's RevocationFeed.
//
// A stream first sends an empty RevocationBatch (it is live), then every
// fingerprint the feed publishes, batched while a write is under way. A
// caller that reads too slowly for more than kMaxUnsentFingerprints to
// wait gets RESOURCE_EXHAUSTED (and reconnects), so that no caller can
// grow the server's memory. CloseAll ends every stream with UNAVAILABLE
// at shutdown; without it, the server's shutdown would wait its whole
// grace for streams that never end.

#ifndef SERVER_RPC_REVOCATION_STREAMS_H_
#define SERVER_RPC_REVOCATION_STREAMS_H_

#include <grpcpp/grpcpp.h>

#include <cstddef>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "base/mutex.h"
#include "proto/token_service.grpc.pb.h"
#include "server/broker/revocation_feed.h"
#include "server/rpc/rpc_call.h"

namespace tokenservice {

inline constexpr size_t kMaxUnsentFingerprints = 10000;

// Thread-safe. Borrows `feed`, which must outlive every stream (the
// server's shutdown ends them).
class RevocationStreams {
 public:
  explicit RevocationStreams(RevocationFeed* feed) : feed_(feed) {}
  // Waits until every stream is done (the server's shutdown ends them all:
  // destroy this after it), so that none touches the feed afterwards.
  ~RevocationStreams();

  // The reactor of a new stream, recorded in `record` when it ends; when
  // `refused` is not OK (or after CloseAll), one that finishes with it at
  // once.
  grpc::ServerWriteReactor<mypos::token::v1::RevocationBatch>* Open(
      RpcRecord record, const absl::Status& refused) ABSL_LOCKS_EXCLUDED(mu_);

  // Ends every stream with UNAVAILABLE and refuses new ones. Idempotent.
  void CloseAll() ABSL_LOCKS_EXCLUDED(mu_);

  // Streams open now.
  size_t open() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class Stream;
  void Remove(Stream* stream) ABSL_LOCKS_EXCLUDED(mu_);

  RevocationFeed* const feed_;
  mutable Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_set<Stream*> streams_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tokenservice

#endif  // SERVER_RPC_REVOCATION_STREAMS_H_
