#include "core/thread_pool.h"

#include <algorithm>

#include "core/error.h"

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
  ranges_ = std::vector<Range>(size_t(threads));
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
  run(n, fn, parts, Split::Static);
}

void ThreadPool::parallel_claim(size_t n, RangeFn fn) { run_items(n, fn, Split::Claimed); }

void ThreadPool::parallel_steal(size_t n, RangeFn fn) {
  if (n >= (size_t(1) << 32)) fail("parallel_steal: {} items, at most 2^32 - 1", n);
  run_items(n, fn, Split::Stolen);
}

void ThreadPool::run_items(size_t n, RangeFn fn, Split split) {
  if (n == 0) return;
  const int parts = int(std::min<size_t>(size_t(size()), n));
  if (parts == 1) {
    for (size_t i = 0; i < n; ++i) fn(i, i + 1, 0);
    return;
  }
  for (int t = 0; split == Split::Stolen && t < parts; ++t) {
    const auto [b, e] = chunk(n, parts, t);
    ranges_[size_t(t)].items.store(uint64_t(b) << 32 | e, std::memory_order_relaxed);
  }
  run(n, fn, parts, split);
}

void ThreadPool::work_stealing(int tid) {
  constexpr auto begin_of = [](uint64_t r) { return size_t(r >> 32); };
  constexpr auto end_of = [](uint64_t r) { return size_t(r & 0xFFFFFFFFu); };
  std::atomic<uint64_t>& own = ranges_[size_t(tid)].items;
  for (;;) {
    // This thread's range, from its front (a thief may shorten its back meanwhile).
    for (uint64_t r = own.load(std::memory_order_acquire); begin_of(r) < end_of(r);) {
      const size_t i = begin_of(r);
      if (own.compare_exchange_weak(r, r + (uint64_t(1) << 32), std::memory_order_acq_rel, std::memory_order_acquire)) {
        (*job_)(i, i + 1, tid);
        r = own.load(std::memory_order_acquire);
      }
    }
    // Then the back half of the largest range left (its last item, where one is left).
    int victim = -1;
    size_t most = 0;
    for (int t = 0; t < job_parts_; ++t) {
      const uint64_t r = ranges_[size_t(t)].items.load(std::memory_order_acquire);
      if (t != tid && end_of(r) > begin_of(r) && end_of(r) - begin_of(r) > most) victim = t, most = end_of(r) - begin_of(r);
    }
    if (victim < 0) return;
    std::atomic<uint64_t>& other = ranges_[size_t(victim)].items;
    uint64_t r = other.load(std::memory_order_acquire);
    const size_t b = begin_of(r), e = end_of(r);
    if (b >= e) continue;
    const size_t mid = e - std::max<size_t>(1, (e - b) / 2);
    if (other.compare_exchange_strong(r, uint64_t(b) << 32 | mid, std::memory_order_acq_rel, std::memory_order_acquire)) {
      own.store(uint64_t(mid) << 32 | e, std::memory_order_release);
    }
  }
}

void ThreadPool::work(int tid) {
  if (tid >= job_parts_) return;
  if (job_split_ == Split::Claimed) {
    for (size_t i; (i = next_item_.fetch_add(1, std::memory_order_relaxed)) < job_n_;) (*job_)(i, i + 1, tid);
  } else if (job_split_ == Split::Stolen) {
    work_stealing(tid);
  } else {
    auto [b, e] = chunk(job_n_, job_parts_, tid);
    (*job_)(b, e, tid);
  }
}

void ThreadPool::run(size_t n, RangeFn fn, int parts, Split split) {
  {
    // Under the lock, so that a worker about to block cannot miss the notification.
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    job_n_ = n;
    job_parts_ = parts;
    job_split_ = split;
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
