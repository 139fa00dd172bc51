// ThreadPool: a static contiguous split of [0, n) (what keeps results thread-count independent)
// with a cheap hand-off, because decode calls parallel_for a few hundred times per token and a
// condition-variable round trip (two futex calls and a wake-up, tens of microseconds) per call
// would be a visible share of each token.
//
// Protocol. The caller writes job_/job_n_/pending_, then bumps generation_ (seq_cst, so also a
// release). A worker that sees a new generation (acquire) may read the job. Workers spin on
// generation_ for up to kSpin, then sleep:
//   worker: lock; sleepers_++ ; re-check generation_ ; wait(lock)      (all seq_cst)
//   caller: generation_++ ; if (sleepers_ > 0) { lock; unlock; notify_all }
// In the single total order of seq_cst operations either the worker's re-check comes after the
// bump (it does not sleep) or the caller's read of sleepers_ comes after the increment (it
// notifies, and its lock cannot be taken before the worker is inside wait). Completion mirrors
// this with pending_ (workers decrement) and caller_sleeping_. The caller cannot start the next
// job before every worker has finished this one, so a worker never misses a generation.
#include <algorithm>
#include <chrono>

#include "core/core.h"

namespace dsx {

namespace {

// How long a thread spins before sleeping: longer than the gaps between the parallel_for calls
// of one decoded token (small serial ops), short enough that idle pools release their cores.
constexpr auto kSpin = std::chrono::microseconds(100);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// A spinning worker that starts a job later than this after it was published was not on a core.
constexpr int64_t kLateNs = 50'000;
constexpr int kMaxSleepCalls = 1 << 12;  // a few tokens of decode

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Spins until done() or kSpin has passed; returns done()'s last value.
template <class Done>
bool spin_until(Done&& done) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() - start > kSpin) return done();
  }
}

// Thread `index` of `count` takes the index-th contiguous chunk of [0, n).
void chunk_of(int64_t n, int index, int count, int64_t* begin, int64_t* end) {
  int64_t base = n / count, extra = n % count;
  *begin = index * base + std::min<int64_t>(index, extra);
  *end = *begin + base + (index < extra ? 1 : 0);
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int count = size();
  if (count == 1 || n == 1) {
    fn(0, n);
    return;
  }
  job_ = &fn;
  job_n_ = n;
  publish_ns_ = now_ns();
  pending_.store(count - 1, std::memory_order_relaxed);
  generation_.fetch_add(1);  // publishes the writes above
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(mutex_); }
    wake_.notify_all();
  }
  int64_t begin, end;
  chunk_of(n, 0, count, &begin, &end);
  try {
    if (begin < end) fn(begin, end);
  } catch (...) {
    wait_for_workers();  // they still use fn
    throw;
  }
  wait_for_workers();
  // Adapt spinning (see core.h). Workers read spin_ when they next wait; it only tunes cost.
  if (late_.exchange(false, std::memory_order_relaxed)) {
    sleep_backoff_ = std::min(kMaxSleepCalls, std::max(16, 2 * sleep_backoff_));
    sleep_calls_left_ = sleep_backoff_;
    spin_.store(false, std::memory_order_relaxed);
  } else if (sleep_calls_left_ > 0) {
    if (--sleep_calls_left_ == 0) spin_.store(true, std::memory_order_relaxed);
  } else if (sleep_backoff_ > 0) {
    --sleep_backoff_;  // forget old preemptions slowly while spinning works
  }
}

void ThreadPool::wait_for_workers() {
  // A spin that runs out is no sign of oversubscription by itself (long uneven jobs do it too),
  // so it only ends this wait; workers report preemption (late_).
  if (spin_.load(std::memory_order_relaxed) &&
      spin_until([this] { return pending_.load(std::memory_order_acquire) == 0; })) {
    return;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  caller_sleeping_.store(true);
  done_.wait(lock, [this] { return pending_.load() == 0; });
  caller_sleeping_.store(false);
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    const bool spinning = spin_.load(std::memory_order_relaxed);
    const bool ready = spinning && spin_until([&] {
                         return generation_.load(std::memory_order_acquire) != seen ||
                                stop_.load(std::memory_order_relaxed);
                       });
    if (!ready) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_.fetch_add(1);
      wake_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
      sleepers_.fetch_sub(1);
    }
    if (stop_.load()) return;
    seen = generation_.load(std::memory_order_acquire);
    if (ready && now_ns() - publish_ns_ > kLateNs) late_.store(true, std::memory_order_relaxed);
    int64_t begin, end;
    chunk_of(job_n_, index, size(), &begin, &end);
    if (begin < end) (*job_)(begin, end);
    if (pending_.fetch_sub(1) == 1 && caller_sleeping_.load()) {
      { std::lock_guard<std::mutex> lock(mutex_); }
      done_.notify_one();
    }
  }
}

}  // namespace dsx
