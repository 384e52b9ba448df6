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

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Polls done() for up to `limit`; true as soon as it holds.
template <class Done>
bool spin_until(Done&& done, std::chrono::microseconds limit) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() - start > limit) return done();
  }
}
}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  for (int t = 1; t < threads; ++t) workers_.emplace_back([this, t] { worker_loop(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
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
  run(n, fn, parts, false);
}

void ThreadPool::parallel_claim(size_t n, RangeFn fn) {
  if (n == 0) return;
  const int parts = int(std::min<size_t>(size_t(size()), n));
  if (parts == 1) {
    for (size_t i = 0; i < n; ++i) fn(i, i + 1, 0);
    return;
  }
  run(n, fn, parts, true);
}

void ThreadPool::work(int tid) {
  if (tid >= job_parts_) return;
  if (job_claimed_) {
    for (size_t i; (i = next_item_.fetch_add(1, std::memory_order_relaxed)) < job_n_;) (*job_)(i, i + 1, tid);
  } else {
    auto [b, e] = chunk(job_n_, job_parts_, tid);
    (*job_)(b, e, tid);
  }
}

void ThreadPool::run(size_t n, RangeFn fn, int parts, bool claimed) {
  {
    // Under the lock, so that a worker about to block cannot miss the notification.
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    job_n_ = n;
    job_parts_ = parts;
    job_claimed_ = claimed;
    next_item_.store(0, std::memory_order_relaxed);
    pending_.store(int(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  start_cv_.notify_all();
  work(0);
  const auto done = [this] { return pending_.load(std::memory_order_acquire) == 0; };
  if (!spin_until(done, kSpin)) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, done);
  }
}

void ThreadPool::worker_loop(int tid) {
  uint64_t seen = 0;
  for (;;) {
    const auto ready = [&] { return stop_.load(std::memory_order_relaxed) || generation_.load(std::memory_order_acquire) != seen; };
    if (!spin_until(ready, kSpin)) {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock, ready);
    }
    if (stop_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    work(tid);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mu_);  // the caller may be between its check and its wait
      done_cv_.notify_one();
    }
  }
}

}  // namespace r1
