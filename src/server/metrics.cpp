#include "server/metrics.h"

#include <fmt/format.h>

namespace r1::server {

void Histogram::observe(double seconds) {
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) {
      ++buckets_[i];
      break;
    }
  }
  ++count_;
  sum_ += seconds;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  std::lock_guard lock(mu_);
  out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, kBounds[i], cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, count_, name, sum_, name, count_);
}

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lock(mu_);
  ++requests_[{endpoint, status}];
}

std::string Metrics::render(const SchedulerStats& s, int parallel) const {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, auto value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
  };
  {
    std::lock_guard lock(mu_);
    out += "# HELP r1_requests_total HTTP requests by endpoint and status code.\n# TYPE r1_requests_total counter\n";
    for (const auto& [key, n] : requests_) {
      out += fmt::format("r1_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, n);
    }
  }
  metric("r1_prompt_tokens_total", "counter", "Prompt tokens of admitted requests.", s.prompt_tokens);
  metric("r1_generated_tokens_total", "counter", "Tokens generated.", s.generated_tokens);
  metric("r1_decode_steps_total", "counter", "Batched forward passes run.", s.steps);
  metric("r1_queue_length", "gauge", "Requests waiting for a slot.", s.waiting);
  metric("r1_running_sequences", "gauge", "Sequences in the running batch.", s.running);
  metric("r1_slots", "gauge", "Sequences that can run at once (--parallel).", parallel);
  metric("r1_kv_blocks_used", "gauge", "KV cache blocks held by running sequences.", s.kv_blocks_used);
  metric("r1_kv_blocks_cached", "gauge", "KV cache blocks holding reusable prompt prefixes, unused.", s.kv_blocks_cached);
  metric("r1_kv_blocks_total", "gauge", "KV cache blocks in the pool.", s.kv_blocks_total);
  metric("r1_kv_cache_usage_ratio", "gauge", "Fraction of KV blocks held by running sequences.",
         s.kv_blocks_total ? double(s.kv_blocks_used) / double(s.kv_blocks_total) : 0.0);
  metric("r1_prefix_cache_lookup_tokens_total", "counter", "Prompt tokens looked up in the prefix cache.", s.prefix_lookup_tokens);
  metric("r1_prefix_cache_hit_tokens_total", "counter", "Prompt tokens served from the prefix cache.", s.prefix_hit_tokens);
  metric("r1_prefix_cache_hit_rate", "gauge", "Prefix-cache hit tokens / lookup tokens since start.",
         s.prefix_lookup_tokens ? double(s.prefix_hit_tokens) / double(s.prefix_lookup_tokens) : 0.0);
  ttft_.render(out, "r1_time_to_first_token_seconds", "Time from request arrival to its first generated token.");
  itl_.render(out, "r1_inter_token_latency_seconds", "Time between consecutive generated tokens of a request.");
  duration_.render(out, "r1_request_duration_seconds", "Time from request arrival to its last byte.");
  return out;
}

}  // namespace r1::server
