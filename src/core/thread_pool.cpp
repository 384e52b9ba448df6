#include "core/thread_pool.h"

#include <algorithm>

namespace r1 {

namespace {
// Chunk `part` of `parts` over [0, n): contiguous, sizes differing by at most one.
std::pair<size_t, size_t> chunk(size_t n, int parts, int part) {
  const size_t base = n / size_t(parts), extra = n % size_t(parts);
  const size_t p = size_t(part);
  const size_t begin = p * base + std::min(p, extra);
  return {begin, begin + base + (p < extra ? 1 : 0)};
}
}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  for (int t = 1; t < threads; ++t) workers_.emplace_back([this, t] { worker_loop(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::parallel_for(size_t n, RangeFn fn, size_t grain) {
  if (n == 0) return;
  const int parts = int(std::min<size_t>(size_t(size()), std::max<size_t>(1, n / std::max<size_t>(1, grain))));
  if (parts == 1) {
    fn(0, n, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    job_n_ = n;
    job_parts_ = parts;
    pending_ = parts - 1;
    ++generation_;
  }
  start_cv_.notify_all();
  auto [b, e] = chunk(n, parts, 0);
  fn(b, e, 0);
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [this] { return pending_ == 0; });
  job_ = nullptr;
}

void ThreadPool::worker_loop(int tid) {
  uint64_t seen = 0;
  for (;;) {
    const RangeFn* job;
    size_t n;
    int parts;
    {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;
      n = job_n_;
      parts = job_parts_;
    }
    if (tid < parts) {
      auto [b, e] = chunk(n, parts, tid);
      (*job)(b, e, tid);
      std::lock_guard<std::mutex> lock(mu_);
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }
}

}  // namespace r1
