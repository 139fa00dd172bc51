// dsx core: errors, element types and their conversions, memory on huge pages, and the thread
// pool.
// Everything else in dsx builds on these; nothing here knows about models.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace dsx {

// The one exception type dsx throws for bad input (files, configs, prompts, requests).
// what() is a single line that names the file, tensor, field or parameter at fault.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Element types of stored tensors (as safetensors names them) and of activations.
enum class DType { F32, F16, BF16, F8_E4M3, I32, I64, U8, F64, I8, I16, BOOL };

const char* dtype_name(DType t);
size_t dtype_size(DType t);
// Parses a safetensors dtype string ("BF16", "F8_E4M3", ...); returns false if unknown.
bool parse_dtype(const std::string& name, DType* out);

inline float bf16_to_f32(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Round-to-nearest-even, as torch does; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float f16_to_f32(uint16_t v);
// IEEE-754-style e4m3 "fn" variant used by DeepSeek-V3: bias 7, no infinities, 0x7f/0xff = NaN.
float fp8_e4m3_to_f32(uint8_t v);
// The 256 decoded values of fp8 e4m3, for table-driven kernels.
const float* fp8_e4m3_table();
// Round-to-nearest-even with saturation to +-448, as torch's float8_e4m3fn cast.
uint8_t f32_to_fp8_e4m3(float f);

// Zeroed anonymous memory, 2 MiB aligned and advised onto transparent huge pages (MADV_HUGEPAGE;
// where the kernel does not grant them it is ordinary memory). For weights that decode streams
// every token: a 2 MiB page is one TLB entry where 4 KiB pages take 512, and the hardware
// prefetchers stop at every page boundary (the absorbed W_UK copies on 4 KiB pages: a decode
// step's 2 MB pass over them took 118-125 us against 102-104 on huge pages). Throws Error if the
// memory cannot be had.
class HugePages {
 public:
  HugePages() = default;
  explicit HugePages(size_t bytes);
  ~HugePages();
  HugePages(HugePages&& other) noexcept;
  HugePages& operator=(HugePages&& other) noexcept;
  HugePages(const HugePages&) = delete;
  HugePages& operator=(const HugePages&) = delete;

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  // Makes the memory read-only for good, in whole huge pages (protecting part of one would split
  // it).
  void make_read_only();
  template <class T>
  T* as() const {
    return reinterpret_cast<T*>(data_);
  }

 private:
  void* region_ = nullptr;  // what to unmap: data_ rounded out to whole huge pages, plus alignment
  size_t region_size_ = 0;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// A fixed set of worker threads. parallel_for splits [0, n) into contiguous equal chunks,
// one per thread, so the work each index does never depends on the thread count: kernels
// that compute each output element in a fixed order give bit-identical results for any
// number of threads.
class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // threads <= 0: all hardware threads
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // Runs fn(begin, end) over disjoint ranges covering [0, n); blocks until all are done.
  // Not reentrant: fn must not call parallel_for on the same pool.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop(int index);
  void wait_for_workers();

  // Hand-off without a system call on the hot path: the caller publishes job_/job_n_ and bumps
  // generation_ (release); workers spin briefly on it, then sleep on wake_, counted in sleepers_
  // so the caller only locks and notifies when someone sleeps. Completion is the same pattern
  // on pending_ / caller_sleeping_ / done_. The seq_cst operations on the counter and the
  // sleeper flag are what stop a wake-up from being lost (see thread_pool.cc).
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;  // valid while pending_ > 0
  int64_t job_n_ = 0;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> caller_sleeping_{false};
  std::atomic<bool> stop_{false};
  // Spinning only pays while every pool thread has a core. A worker that finds a job long after
  // it was published was preempted while spinning (more runnable threads than cores), so the
  // caller then falls back to sleeping for a number of calls that doubles while it keeps happening.
  int64_t publish_ns_ = 0;  // when the current job was published (steady clock)
  std::atomic<bool> late_{false};
  std::atomic<bool> spin_{true};
  int sleep_calls_left_ = 0;  // caller only
  int sleep_backoff_ = 0;     // caller only
};

}  // namespace dsx
