// A fixed set of worker threads for data-parallel loops.
//
// parallel_for(n, fn) splits [0, n) into one contiguous range per thread and calls fn(begin, end, tid)
// on each; the caller's thread takes part. Partitioning depends only on n and the thread count, and every
// element is computed by exactly one thread in a fixed order, so results are identical run to run.
// parallel_claim(n, fn) instead hands the items out one at a time, to whichever thread asks next: for a
// few long items whose threads may run at different speeds (a VM's vCPUs share their cores with other
// guests; measured here, one ran 10-25 % slower than the other for minutes at a time). Which thread
// computes an item then varies, so its results must not depend on the thread.
// parallel_steal(n, fn) starts as parallel_for -- a contiguous range per thread, walked from its front --
// but a thread that finishes its range takes the back half of the largest range left, so the threads end
// together though they run at different speeds, and each still reads mostly one contiguous stretch (the
// decode mat-vec streams its weights: claimed pieces alternating between the threads cost ~3 % there).
// Like parallel_claim, which thread computes an item varies.
// Nothing is allocated per call, so all three are safe inside the decode loop.
//
// A decode step is a few hundred parallel loops of 20-200 us each, with little serial work between
// them. Waking a thread blocked on a condition variable costs a system call and a reschedule (several
// microseconds here, more under a hypervisor), so workers and the caller first spin for a short while
// (kSpin) on the atomic job counter and completion count, and only then block.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <type_traits>
#include <utility>
#include <mutex>
#include <thread>
#include <vector>

namespace r1 {

// A non-owning reference to a callable `void(size_t begin, size_t end, int thread)`: unlike
// std::function it never allocates, so loops may pass lambdas with any captures.
class RangeFn {
 public:
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, RangeFn>>>
  RangeFn(F&& f)  // NOLINT: implicit by design
      : obj_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, size_t b, size_t e, int t) { (*static_cast<std::remove_reference_t<F>*>(o))(b, e, t); }) {}
  void operator()(size_t b, size_t e, int t) const { call_(obj_, b, e, t); }

 private:
  void* obj_;
  void (*call_)(void*, size_t, size_t, int);
};

// The i-th of n items in folded order: 0, n-1, 1, n-2, ... Causal attention's work grows with a
// token's position, so under parallel_for's contiguous ranges the threads with the later tokens took
// up to three times as long as the first; in folded order each range pairs early tokens with late ones
// and the threads finish together. Each item is still computed alone, so results do not change.
inline size_t folded_index(size_t i, size_t n) { return i % 2 == 0 ? i / 2 : n - 1 - i / 2; }

class ThreadPool {
 public:

  explicit ThreadPool(int threads);  // threads <= 0: all hardware threads
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return int(workers_.size()) + 1; }

  // Runs fn over [0, n) in size() contiguous chunks; blocks until all are done.
  // `grain`: never give a thread fewer than this many items (small loops stay on one thread).
  void parallel_for(size_t n, RangeFn fn, size_t grain = 1);
  // Calls fn(i, i + 1, tid) for every i in [0, n), each item claimed by the next free thread.
  void parallel_claim(size_t n, RangeFn fn);
  // Calls fn(i, i + 1, tid) for every i in [0, n) (n < 2^32): contiguous ranges, rebalanced by stealing.
  void parallel_steal(size_t n, RangeFn fn);

 private:
  enum class Split : uint8_t { Static, Claimed, Stolen };
  // Runs the job on `parts` threads (the caller's among them) and waits for all of them.
  void run(size_t n, RangeFn fn, int parts, Split split);
  // parallel_claim and parallel_steal: fn(i, i + 1, tid) per item, on one thread where there is one item or thread.
  void run_items(size_t n, RangeFn fn, Split split);
  void work(int tid);  // this thread's part of the current job
  void work_stealing(int tid);
  void worker_loop(int tid);

  // How long a waiting thread polls before it blocks: longer than the serial work between two loops of
  // a decode step, short enough that an idle pool stops using the cores at once.
  static constexpr std::chrono::microseconds kSpin{100};

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  // The job: written by parallel_for before it publishes the next generation, read by the workers after
  // they see it; not touched again until every worker has counted itself off in pending_.
  const RangeFn* job_ = nullptr;
  size_t job_n_ = 0;
  int job_parts_ = 0;
  Split job_split_ = Split::Static;
  std::atomic<size_t> next_item_{0};  // a claimed job's next unclaimed item
  // A stolen job's ranges left, one per thread: [begin, end) packed as begin << 32 | end, each on its own
  // cache line (the owner updates it per item).
  struct alignas(64) Range {
    std::atomic<uint64_t> items{0};
  };
  std::vector<Range> ranges_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};  // workers still to finish the current generation (all of them, busy or not)
  std::atomic<bool> stop_{false};
};

}  // namespace r1
