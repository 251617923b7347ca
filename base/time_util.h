// Conversions between absl time types and google.protobuf time messages.

#ifndef BASE_TIME_UTIL_H_
#define BASE_TIME_UTIL_H_

#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace tokenservice {

google::protobuf::Timestamp ToProtoTimestamp(absl::Time t);
google::protobuf::Duration ToProtoDuration(absl::Duration d);
absl::Duration FromProtoDuration(const google::protobuf::Duration& d);

}  // namespace tokenservice

#endif  // BASE_TIME_UTIL_H_
