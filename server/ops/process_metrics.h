// Process metrics: the families every Prometheus client library exports
// for its process (client_golang's process collector): CPU time, resident
// and virtual memory, open and maximum file descriptors, start time. Read
// from /proc at each scrape; on a system without /proc the families are
// there with no series.

#ifndef SERVER_OPS_PROCESS_METRICS_H_
#define SERVER_OPS_PROCESS_METRICS_H_

#include <vector>

#include "prometheus/metric_family.h"

namespace tokenservice {

// process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds and
// process_start_time_seconds, now. Thread-safe.
std::vector<prometheus::MetricFamily> CollectProcessMetrics();

}  // namespace tokenservice

#endif  // SERVER_OPS_PROCESS_METRICS_H_
