// Kernel micro-benchmarks: matmul against the machine's limits, measured in the same run.
//   GEMV (tokens = 1, decode): bytes of weights read per second against the measured streaming
//   read bandwidth; cycles through enough copies of the matrix to exceed twice the last-level
//   cache, so every call reads from DRAM.
//   GEMM (tokens = 512, prefill): FLOP/s against the measured float32 FMA peak.
// Each for 1 and 2 threads, on the best backend (and the reference for scale).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/ops.h"

namespace dsx::kernels {
namespace {

ThreadPool* pool_of(int threads) {
  static std::map<int, std::unique_ptr<ThreadPool>> pools;
  auto& p = pools[threads];
  if (!p) p = std::make_unique<ThreadPool>(threads);
  return p.get();
}

// Limits are measured right before each benchmark, not once per run, so a figure and the limit
// it is divided by see the same machine (on a shared host other tenants move both).
double read_bandwidth(int threads) {
  return measure_read_bandwidth_gbs(pool_of(threads));
}

double fma_peak(int threads) {
  return measure_fma_peak_gflops(pool_of(threads));
}

// A weight matrix [rows, cols] with realistic values (no NaN, inf or denormal codes), optionally
// repeated `copies` times back to back, row-major or laid out as loaded models hold them (tiled
// where AMX multiplies them, else interleaved).
// fp8 gets unit block scales.
struct Weights {
  DType type;
  int64_t rows, cols, copies;
  bool interleaved = false, tiled = false;
  HugePages bytes;  // as a loaded model's copy is
  std::vector<float> scales;

  Weights(DType t, int64_t r, int64_t c, int64_t n, bool interleave = false)
      : type(t), rows(r), cols(c), copies(n) {
    const int64_t elems = rows * cols;
    const size_t esize = dtype_size(type);
    bytes = HugePages(static_cast<size_t>(elems * copies) * esize);
    std::mt19937 rng(42);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<uint8_t> one(static_cast<size_t>(elems) * esize);
    for (int64_t i = 0; i < elems; ++i) {
      const float v = normal(rng);
      switch (type) {
        case DType::BF16: {
          const uint16_t h = f32_to_bf16(v * 0.05f);
          std::memcpy(&one[i * 2], &h, 2);
          break;
        }
        case DType::F8_E4M3:
          one[i] = f32_to_fp8_e4m3(v * 100.0f);
          break;
        default:
          std::memcpy(&one[i * 4], &v, 4);
          break;
      }
    }
    for (int64_t k = 0; k < copies; ++k)
      std::copy(one.begin(), one.end(), bytes.data() + k * one.size());
    scales.assign(((rows + 127) / 128) * ((cols + 127) / 128), 0.0005f);
    if (interleave) {
      const bool tile = best_backend() == Backend::Amx && can_tile(view(0));
      for (int64_t k = 0; k < copies; ++k) {
        WeightView w = view(k);
        if (tile) {
          tile_rows(w, bytes.data() + k * matrix_bytes());
        } else {
          interleave_rows(w, bytes.data() + k * matrix_bytes());
        }
      }
      (tile ? tiled : interleaved) = true;
    }
  }
  size_t matrix_bytes() const { return static_cast<size_t>(rows * cols) * dtype_size(type); }
  WeightView view(int64_t k) const {
    WeightView w;
    w.type = type;
    w.rows = rows;
    w.cols = cols;
    w.data = bytes.data() + k * matrix_bytes();
    w.block_scale = scales.data();
    w.interleaved = interleaved;
    w.tiled = tiled;
    return w;
  }
};

int64_t copies_beyond_llc(size_t matrix_bytes) {
  const long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
  const size_t target = std::max<size_t>(2 * static_cast<size_t>(std::max(llc, 0L)), 256u << 20);
  return std::max<int64_t>(2, static_cast<int64_t>((target + matrix_bytes - 1) / matrix_bytes));
}

// args: dtype, threads, backend, interleaved
void BM_Gemv(benchmark::State& state) {
  const auto type = static_cast<DType>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  const auto backend = static_cast<Backend>(state.range(2));
  const bool interleave = state.range(3) != 0;
  constexpr int64_t kRows = 8192, kCols = 4096;
  const Weights w(type, kRows, kCols,
                  copies_beyond_llc(static_cast<size_t>(kRows * kCols) * dtype_size(type)),
                  interleave);
  ThreadPool* pool = pool_of(threads);
  const double bw = read_bandwidth(threads);
  std::vector<float> x(kCols, 0.5f), y(kRows);
  int64_t k = 0, calls = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    matmul(x.data(), kCols, 1, w.view(k), y.data(), kRows, pool, backend);
    benchmark::DoNotOptimize(y.data());
    k = (k + 1) % w.copies;
    ++calls;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double gbs = static_cast<double>(w.matrix_bytes()) * calls / s / 1e9;
  state.counters["GB/s"] = gbs;
  state.counters["read_bw_GB/s"] = bw;
  state.counters["pct_of_bw"] = 100.0 * gbs / bw;
  state.SetLabel(std::string(dtype_name(type)) +
                 (w.tiled         ? " tiled"
                  : w.interleaved ? " interleaved"
                                  : " row-major") +
                 " [8192x4096] x" + std::to_string(w.copies) + " copies, " + backend_name(backend) +
                 ", threads=" + std::to_string(threads));
}

// Times y = x W^T for `tokens` random rows of x and reports GFLOP/s against the FMA peak. With
// `streamed`, each call reads the next of enough copies of W to overflow the LLC, so the weights
// come from memory as a decode step's do; otherwise one copy stays in cache, as in prefill, where
// a chunk of tokens reuses each weight.
void time_gemm(benchmark::State& state, DType type, int64_t rows, int64_t cols, int64_t tokens,
               int threads, Backend backend, bool streamed = false) {
  const size_t matrix_bytes = static_cast<size_t>(rows * cols) * dtype_size(type);
  // Streamed weights are laid out as a loaded model's copy holds them (interleaved).
  const Weights w(type, rows, cols, streamed ? copies_beyond_llc(matrix_bytes) : 1, streamed);
  ThreadPool* pool = pool_of(threads);
  const double peak = fma_peak(threads);
  std::vector<float> x(tokens * cols), y(tokens * rows);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto& v : x) v = u(rng);
  int64_t calls = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    matmul(x.data(), cols, tokens, w.view(calls % w.copies), y.data(), rows, pool, backend);
    benchmark::DoNotOptimize(y.data());
    ++calls;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double gflops = 2.0 * tokens * rows * cols * calls / s / 1e9;
  state.counters["GB/s"] = static_cast<double>(matrix_bytes) * calls / s / 1e9;
  state.counters["GFLOP/s"] = gflops;
  state.counters["fma_peak_GFLOP/s"] = peak;
  state.counters["pct_of_peak"] = 100.0 * gflops / peak;
  state.SetLabel(std::string(dtype_name(type)) + " [" + std::to_string(rows) + "x" +
                 std::to_string(cols) + "] tokens=" + std::to_string(tokens) +
                 (streamed ? " streamed, " : ", ") + backend_name(backend) +
                 ", threads=" + std::to_string(threads));
}

// args: dtype, threads, backend
void BM_Gemm(benchmark::State& state) {
  time_gemm(state, static_cast<DType>(state.range(0)), 4096, 4096, 512,
            static_cast<int>(state.range(1)), static_cast<Backend>(state.range(2)));
}

// The products of a 512-token prefill of the reference shape (bench/ds2lite-27L.json), bf16 and
// fp8, two threads: args rows, cols, tokens, dtype. Per layer: q (3072 x 1024), kv_a (576 x
// 1024), o (1024 x 2048); kv_b (4096 x 512) multiplying the prompt's latents out (the expanded
// form); a routed expert's gate or up (256 x 1024) and down (1024 x 256) at its ~192 tokens (512
// x 6 / 16); the shared experts' gate or up (512 x 1024) and down (1024 x 512). Then a
// 16-sequence decode step (the engine's batch): q and o at 16 tokens, a head's W_UV (128 x 512),
// and an expert's gate or up at its ~6 tokens, these with their weights streamed from memory.
void BM_GemmShape(benchmark::State& state) {
  time_gemm(state, static_cast<DType>(state.range(3)), state.range(0), state.range(1),
            state.range(2), 2, best_backend(), state.range(2) <= 16);
}

void Args(benchmark::internal::Benchmark* b) {
  const auto best = static_cast<int64_t>(best_backend());
  for (DType t : {DType::BF16, DType::F8_E4M3, DType::F32}) {
    for (int threads : {1, 2}) b->Args({static_cast<int64_t>(t), threads, best});
  }
}

void GemvArgs(benchmark::internal::Benchmark* b) {
  const auto best = static_cast<int64_t>(best_backend());
  for (DType t : {DType::BF16, DType::F8_E4M3, DType::F32}) {
    for (int threads : {1, 2})
      for (int64_t interleave : {0, 1})
        b->Args({static_cast<int64_t>(t), threads, best, interleave});
  }
}

void GemmShapeArgs(benchmark::internal::Benchmark* b) {
  const int64_t shapes[][3] = {
      {3072, 1024, 512}, {576, 1024, 512}, {1024, 2048, 512}, {4096, 512, 512}, {256, 1024, 192},
      {1024, 256, 192},  {512, 1024, 512}, {1024, 512, 512},  {3072, 1024, 16}, {1024, 2048, 16},
      {128, 512, 16},    {256, 1024, 6},   {3072, 1024, 1},   {256, 1024, 1},   {1024, 256, 1},
      {128, 512, 1},     {128815, 1024, 1}};
  for (DType t : {DType::BF16, DType::F8_E4M3})
    for (const auto& s : shapes) b->Args({s[0], s[1], s[2], static_cast<int64_t>(t)});
}

BENCHMARK(BM_Gemv)->Apply(GemvArgs)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_Gemm)->Apply(Args)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_GemmShape)
    ->Apply(GemmShapeArgs)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(0.5);

}  // namespace
}  // namespace dsx::kernels

BENCHMARK_MAIN();
