// BlockingReader and BlockingBidiStream: a long-lived gRPC stream on the
// callback API, read by a thread of ours that blocks on a mutex.
//
// Why not the sync API's ClientReader::Read: a thread blocked in it waits
// inside gRPC's poller (grpc_pollset_work), and on Linux every such thread
// in a process shares one epoll set. A thread that waits there for hours
// (a watch) takes its turns as the process's poller, so the calls of the
// process's own gRPC server are read on it and handed over to the server's
// threads: measured in fleet mode, 6 times the context switches per call
// and a quarter fewer cache hits a second (bench/fleet_ab.sh). Here the
// stream runs on gRPC's callback threads, which a callback-API server (as
// ours) has anyway, and the reading thread waits outside gRPC. In a
// process with no other callback-API use, gRPC 1.51 starts those threads
// (at least two) for it: not measured to be better or worse there.
//
//   auto stream = std::make_shared<BlockingReader<Request, Batch>>();
//   stub->async()->Watch(&context, &stream->request(), stream.get());
//   stream->Start();
//   Batch batch;
//   while (stream->Read(&batch)) ...;
//   grpc::Status status = stream->Finish();
//
// A stream lives until gRPC is done with it (OnDone), however soon its
// owner lets go of it. Read, Finish and the rest from one thread only, and
// Finish always (the call cannot end before it).

#ifndef BASE_BLOCKING_STREAM_H_
#define BASE_BLOCKING_STREAM_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "base/mutex.h"

namespace tokenservice {
namespace blocking_stream_internal {

// What both kinds share: one read outstanding at a time (so a slow reader
// holds the server back, as with the sync API), and the final status.
template <typename Reactor, typename Response>
class Reads : public Reactor,
              public std::enable_shared_from_this<Reads<Reactor, Response>> {
 public:
  // Blocks until the next message (true) or the end of the stream (false).
  bool Read(Response* response) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &Reads::ReadDone));
      if (!read_ok_) return false;
      *response = std::move(response_);
      reading_ = true;
    }
    this->StartRead(&response_);
    return true;
  }

  // Blocks until gRPC is done with the stream; its status. Only then may
  // the call end (before it, Read may start another read), so call it
  // after the last Read, and after cancelling the ClientContext unless a
  // Read returned false: a live stream would not end. Idempotent.
  grpc::Status Finish() ABSL_LOCKS_EXCLUDED(mu_) {
    bool release;
    {
      MutexLock lock(&mu_);
      release = !finishing_;
      finishing_ = true;
    }
    if (release) this->RemoveHold();
    MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
    return status_;
  }

  void OnReadDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    reading_ = false;
    read_ok_ = ok;
  }

  void OnDone(const grpc::Status& status) override ABSL_LOCKS_EXCLUDED(mu_) {
    // Declared first, so released last: once the lock is.
    std::shared_ptr<Reads> keep;
    MutexLock lock(&mu_);
    keep = std::move(self_);
    status_ = status;
    done_ = true;
  }

 protected:
  // Holds the stream until OnDone, and the call until Finish (reads are
  // started outside gRPC's reactions), and asks for the first message; the
  // caller then calls StartCall. Only on a stream made by make_shared.
  void BeginReading() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      MutexLock lock(&mu_);
      self_ = this->shared_from_this();
      reading_ = true;
    }
    this->AddHold();
    this->StartRead(&response_);
  }

 private:
  bool ReadDone() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !reading_; }

  Mutex mu_;
  Response response_;  // gRPC's while reading_
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool read_ok_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;  // the hold is released
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<Reads> self_ ABSL_GUARDED_BY(mu_);
};

}  // namespace blocking_stream_internal

// A server-streaming call.
template <typename Request, typename Response>
class BlockingReader final
    : public blocking_stream_internal::Reads<grpc::ClientReadReactor<Response>,
                                             Response> {
 public:
  // For the stub's async() method; kept for the whole call.
  Request& request() { return request_; }

  // After the stub's async() method: starts the call.
  void Start() {
    this->BeginReading();
    this->StartCall();
  }

 private:
  Request request_;
};

// A bidirectional call that writes one message (a watch's create request)
// and then only reads.
template <typename Request, typename Response>
class BlockingBidiStream final
    : public blocking_stream_internal::Reads<
          grpc::ClientBidiReactor<Request, Response>, Response> {
 public:
  // After the stub's async() method: starts the call with `first` written.
  void Start(Request first) {
    request_ = std::move(first);
    this->StartWrite(&request_);
    this->BeginReading();
    this->StartCall();
  }

  // A failed write ends the call, and with it the reads.
  void OnWriteDone(bool) override {}

 private:
  Request request_;  // gRPC's until OnWriteDone
};

}  // namespace tokenservice

#endif  // BASE_BLOCKING_STREAM_H_
