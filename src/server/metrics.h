// The server's counters, in the Prometheus text format (GET /metrics): requests by endpoint and status,
// latency histograms (time to first token, inter-token latency), and the scheduler's gauges (queue,
// running sequences, KV blocks, prefix-cache hits). Thread-safe; nothing here sees prompt text.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "runtime/scheduler.h"

namespace r1::server {

class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                     1.0,   2.5,  5.0,   10.0, 30.0, 60.0, 120.0};
  void observe(double seconds);
  // `name` with _bucket{le=...}, _sum and _count lines.
  void render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  mutable std::mutex mu_;
  std::array<uint64_t, kBounds.size()> buckets_{};  // non-cumulative; summed when rendered
  uint64_t count_ = 0;
  double sum_ = 0;
};

class Metrics {
 public:
  void count_request(const std::string& endpoint, int status);
  Histogram& time_to_first_token() { return ttft_; }
  Histogram& inter_token_latency() { return itl_; }
  Histogram& request_duration() { return duration_; }
  std::string render(const SchedulerStats& s, int parallel) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  Histogram ttft_, itl_, duration_;
};

}  // namespace r1::server
