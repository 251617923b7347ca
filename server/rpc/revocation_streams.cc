#include "server/rpc/revocation_streams.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/rpc/grpc_status.h"

namespace tokenservice {

namespace v1 = ::mypos::token::v1;

// One stream. gRPC runs its reactions (OnWriteDone, OnCancel, OnDone) on
// its own threads, never inside StartWrite or Finish, so they may be
// called with mu_ held.
class RevocationStreams::Stream final
    : public grpc::ServerWriteReactor<v1::RevocationBatch> {
 public:
  Stream(RevocationStreams* owner, RpcRecord record)
      : owner_(owner), record_(std::move(record)) {}

  // Sends the first, empty batch: the stream is live.
  void Begin() ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    writing_ = true;
    StartWrite(&batch_);
  }

  // Called by the feed, under its lock.
  void Add(absl::string_view fingerprint) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    if (ending_.has_value()) return;
    if (!writing_) {
      batch_.Clear();
      batch_.add_fingerprints(std::string(fingerprint));
      writing_ = true;
      StartWrite(&batch_);
      return;
    }
    if (pending_.size() >= kMaxUnsentFingerprints) {
      // Finished when the write under way is done.
      ending_ = ToGrpcStatus(absl::ResourceExhaustedError(
          "more revocations are waiting than this stream reads: reconnect "
          "(and drop what you cached)"));
      return;
    }
    pending_.push_back(std::string(fingerprint));
  }

  // Finishes with `status`, at once or once the write under way is done.
  void End(const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    if (ending_.has_value()) return;
    ending_ = status;
    if (!writing_) Finish(*ending_);
  }

  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    writing_ = false;
    if (!ok && !ending_.has_value()) {
      ending_ = grpc::Status(grpc::StatusCode::CANCELLED, "the stream broke");
    }
    if (ending_.has_value()) {
      Finish(*ending_);
      return;
    }
    if (pending_.empty()) return;
    batch_.Clear();
    for (std::string& fingerprint : pending_) {
      batch_.add_fingerprints(std::move(fingerprint));
    }
    pending_.clear();
    writing_ = true;
    StartWrite(&batch_);
  }

  void OnCancel() override {
    End(grpc::Status(grpc::StatusCode::CANCELLED, "the caller went away"));
  }

  void OnDone() override {
    owner_->Remove(this);  // the feed no longer calls Add
    grpc::Status ended;
    {
      MutexLock lock(&mu_);
      if (ending_.has_value()) ended = *ending_;
    }
    record_.End(ended.ok() ? absl::OkStatus()
                           : absl::Status(static_cast<absl::StatusCode>(
                                              ended.error_code()),
                                          ended.error_message()));
    delete this;
  }

  // The feed's id for it; set and read under the owner's mu_.
  uint64_t subscription = 0;

 private:
  RevocationStreams* const owner_;
  RpcRecord record_;
  Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // Set once the stream is to finish; Finish is called with it as soon as
  // no write is under way.
  std::optional<grpc::Status> ending_ ABSL_GUARDED_BY(mu_);
  v1::RevocationBatch batch_ ABSL_GUARDED_BY(mu_);  // the write under way
  std::vector<std::string> pending_ ABSL_GUARDED_BY(mu_);
};

grpc::ServerWriteReactor<v1::RevocationBatch>* RevocationStreams::Open(
    RpcRecord record, const absl::Status& refused) {
  auto* stream = new Stream(this, std::move(record));
  if (!refused.ok()) {
    stream->End(ToGrpcStatus(refused));
    return stream;
  }
  // All under mu_, so that CloseAll finds it either not yet open or
  // already writing (lock order: mu_, then the feed's, then the stream's).
  MutexLock lock(&mu_);
  if (closed_) {
    stream->End(ToGrpcStatus(absl::UnavailableError(
        "the server is shutting down: watch another replica")));
    return stream;
  }
  streams_.insert(stream);
  stream->subscription = feed_->Subscribe(
      [stream](absl::string_view fingerprint) { stream->Add(fingerprint); });
  stream->Begin();
  return stream;
}

void RevocationStreams::Remove(Stream* stream) {
  uint64_t subscription;
  {
    MutexLock lock(&mu_);
    subscription = stream->subscription;
  }
  if (subscription != 0) feed_->Unsubscribe(subscription);
  // Last: the destructor waits for it, so the feed is left alone by then.
  MutexLock lock(&mu_);
  streams_.erase(stream);
}

RevocationStreams::~RevocationStreams() {
  MutexLock lock(&mu_);
  auto none = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return streams_.empty();
  };
  mu_.Await(absl::Condition(&none));
}

void RevocationStreams::CloseAll() {
  MutexLock lock(&mu_);
  closed_ = true;
  for (Stream* stream : streams_) {
    stream->End(ToGrpcStatus(absl::UnavailableError(
        "the server is shutting down: watch another replica")));
  }
}

size_t RevocationStreams::open() const {
  MutexLock lock(&mu_);
  return streams_.size();
}

}  // namespace tokenservice
