// Machine limits that `dsx bench` divides achieved figures by: streaming read bandwidth (the
// decode floor) and float32 FMA peak (the prefill floor). Both run on every pool thread, because
// that is what the kernels get.
#include <immintrin.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>

#include "kernels/ops.h"

namespace dsx::kernels {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Sums a buffer with wide loads, front to back; with prefetch > 0, also requests the line that
// many bytes ahead of each one read. The hardware alone does not reach the limit here: on this
// machine class (2 vCPUs of a Xeon with AVX-512) the plain loop reads ~31 GB/s on two threads and
// the one that prefetches 1 KiB ahead ~35 GB/s, so the limit is the best of both.
// n: a multiple of 4 vectors.
constexpr size_t kReadAhead = 1024;  // bytes

template <bool kPrefetch>
__attribute__((target("avx512f"))) float read_avx512(const float* p, size_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 64 <= n; i += 64) {
    if constexpr (kPrefetch) {
      const char* ahead = reinterpret_cast<const char*>(p + i) + kReadAhead;
      for (int line = 0; line < 4; ++line) _mm_prefetch(ahead + line * 64, _MM_HINT_T0);
    }
    a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
  }
  float out[16];
  _mm512_storeu_ps(out, _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  return out[0] + out[15];  // only has to keep the loads alive
}

template <bool kPrefetch>
__attribute__((target("avx2"))) float read_avx2(const float* p, size_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 32 <= n; i += 32) {
    if constexpr (kPrefetch) {
      const char* ahead = reinterpret_cast<const char*>(p + i) + kReadAhead;
      for (int line = 0; line < 2; ++line) _mm_prefetch(ahead + line * 64, _MM_HINT_T0);
    }
    a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
  }
  float out[8];
  _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  return out[0] + out[7];
}

template <bool kPrefetch>
float read_sse(const float* p, size_t n) {
  __m128 a0 = _mm_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 16 <= n; i += 16) {
    if constexpr (kPrefetch)
      _mm_prefetch(reinterpret_cast<const char*>(p + i) + kReadAhead, _MM_HINT_T0);
    a0 = _mm_add_ps(a0, _mm_load_ps(p + i));
    a1 = _mm_add_ps(a1, _mm_load_ps(p + i + 4));
    a2 = _mm_add_ps(a2, _mm_load_ps(p + i + 8));
    a3 = _mm_add_ps(a3, _mm_load_ps(p + i + 12));
  }
  float out[4];
  _mm_storeu_ps(out, _mm_add_ps(_mm_add_ps(a0, a1), _mm_add_ps(a2, a3)));
  return out[0] + out[3];
}

// Independent FMA chains (more than latency x ports on any current core) on constants that
// converge (m < 1), so no denormals or overflow. Returns a value the caller keeps alive.
constexpr int kChains = 12;

__attribute__((target("avx512f"))) float fma_avx512(int64_t iters) {
  __m512 a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (int64_t k = 0; k < iters; ++k) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) a[i] = _mm512_fmadd_ps(a[i], m, c);
  }
  __m512 s = a[0];
  for (int i = 1; i < kChains; ++i) s = _mm512_add_ps(s, a[i]);
  float out[16];
  _mm512_storeu_ps(out, s);
  return out[0];
}

__attribute__((target("avx2,fma"))) float fma_avx2(int64_t iters) {
  __m256 a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = _mm256_set1_ps(0.001f * static_cast<float>(i));
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (int64_t k = 0; k < iters; ++k) {
#pragma GCC unroll 12
    for (int i = 0; i < kChains; ++i) a[i] = _mm256_fmadd_ps(a[i], m, c);
  }
  __m256 s = a[0];
  for (int i = 1; i < kChains; ++i) s = _mm256_add_ps(s, a[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  return out[0];
}

// Baseline x86-64 has no FMA: a multiply and an add per lane count as the same two flops.
float fma_sse(int64_t iters) {
  __m128 a[kChains];
  for (int i = 0; i < kChains; ++i) a[i] = _mm_set1_ps(0.001f * static_cast<float>(i));
  const __m128 m = _mm_set1_ps(0.999999f), c = _mm_set1_ps(1e-7f);
  for (int64_t k = 0; k < iters; ++k) {
    for (int i = 0; i < kChains; ++i) a[i] = _mm_add_ps(_mm_mul_ps(a[i], m), c);
  }
  __m128 s = a[0];
  for (int i = 1; i < kChains; ++i) s = _mm_add_ps(s, a[i]);
  return _mm_cvtss_f32(s);
}

// Runs fn(thread index) once on every pool thread (or once inline without a pool).
template <class Fn>
void on_all_threads(ThreadPool* pool, Fn&& fn) {
  const int threads = pool ? pool->size() : 1;
  if (threads == 1) {
    fn(0);
    return;
  }
  pool->parallel_for(threads, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) fn(static_cast<int>(i));
  });
}

}  // namespace

double measure_read_bandwidth_gbs(ThreadPool* pool) {
  // Several times the last-level cache so passes cannot be served from it, within 0.5-1 GiB
  // (allocating and faulting in the pages is most of the cost).
  const long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
  const size_t mib = size_t{1} << 20;
  const size_t bytes =
      std::clamp<size_t>(llc > 0 ? 2 * static_cast<size_t>(llc) : 0, 512 * mib, 1024 * mib);
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return 0.0;
  madvise(mem, bytes, MADV_HUGEPAGE);  // fewer faults and TLB misses; a hint only
  auto* data = static_cast<float*>(mem);
  const int threads = pool ? pool->size() : 1;
  // Per-thread slices of whole 256-byte steps (the widest read loop's).
  const size_t per_thread = bytes / sizeof(float) / threads / 64 * 64;
  on_all_threads(pool, [&](int i) {
    float* p = data + i * per_thread;
    for (size_t j = 0; j < per_thread; ++j) p[j] = 1.0f;  // fault in here, as the reader will
  });

  const Backend backend = best_backend();
  std::vector<float> sink(threads);
  double best = 0.0;
  const auto start = Clock::now();
  // Passes alternate between reading plainly and prefetching 1 KiB ahead.
  for (int pass = 0; pass < 12 && (pass < 4 || seconds_since(start) < 0.4); ++pass) {
    const bool prefetch = pass % 2 == 1;
    const auto t0 = Clock::now();
    on_all_threads(pool, [&](int i) {
      const float* p = data + i * per_thread;
      const size_t n = per_thread;
      if (backend >= Backend::Avx512) {
        sink[i] = prefetch ? read_avx512<true>(p, n) : read_avx512<false>(p, n);
      } else if (backend == Backend::Avx2) {
        sink[i] = prefetch ? read_avx2<true>(p, n) : read_avx2<false>(p, n);
      } else {
        sink[i] = prefetch ? read_sse<true>(p, n) : read_sse<false>(p, n);
      }
    });
    const double s = seconds_since(t0);
    best = std::max(best, static_cast<double>(per_thread * threads * sizeof(float)) / s / 1e9);
  }
  munmap(mem, bytes);
  return best;
}

double measure_fma_peak_gflops(ThreadPool* pool) {
  const Backend backend = best_backend();
  const int lanes = backend >= Backend::Avx512 ? 16 : backend == Backend::Avx2 ? 8 : 4;
  auto run = [&](int64_t iters) {
    const int threads = pool ? pool->size() : 1;
    std::vector<float> sink(threads);
    const auto t0 = Clock::now();
    on_all_threads(pool, [&](int i) {
      sink[i] = backend >= Backend::Avx512 ? fma_avx512(iters)
                : backend == Backend::Avx2 ? fma_avx2(iters)
                                           : fma_sse(iters);
    });
    const double s = seconds_since(t0);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    const double flops = 2.0 * lanes * kChains * static_cast<double>(iters) * threads;
    return std::make_pair(s, flops / s / 1e9 + 0.0 * sink[0]);
  };
  // Calibrate to ~0.05 s a run (this also brings the cores up to their vector clock), then take
  // the best of at least three runs, going on for up to 0.4 s: on a shared host one run can lose
  // most of its time slice to another tenant, and the best run is the core's own rate.
  const auto [s0, g0] = run(200000);
  const int64_t iters = std::max<int64_t>(200000, static_cast<int64_t>(200000 * 0.05 / s0));
  double best = g0;
  const auto start = Clock::now();
  for (int i = 0; i < 8 && (i < 3 || seconds_since(start) < 0.4); ++i)
    best = std::max(best, run(iters).second);
  return best;
}

}  // namespace dsx::kernels
