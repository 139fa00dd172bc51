// SIMD kernels (kernels/cpu) against the scalar reference, on every backend this CPU runs.
//
// TOLERANCE. For a sum of n products s = sum_c x_c w_c computed in float32 (unit roundoff
// u = 2^-24 = eps32 / 2), any evaluation order with k roundings on the path of each term obeys
// |fl(s) - s| <= gamma_k * sum_c |x_c w_c|, gamma_k = k u / (1 - k u) (Higham, Accuracy and
// Stability, 2nd ed., 3.1 and 4.2; an FMA rounds once where a multiply-add rounds twice).
//   reference: a rounded product and n sequential adds, plus for fp8 the rounding of q * scale:
//     k <= n + 2.
//   SIMD: each lane chains ceil(n / L) FMAs, then log2(L) tree levels; fp8 adds the rounding of
//     x * (256 * scale) (the decode q * 2^-8 is exact): k <= n / L + log2(16) + 3.
// Both are within gamma of the exact s, so |simd - ref| <= (gamma_{n+2} + gamma_{n/L+7}) * S,
// S = sum_c |x_c w_c| (computed in double from the reference's weights). We use the slightly
// larger (n + n/8 + 12) u * S. This is a worst-case (linear) bound, so it cannot flake, yet it
// is tight enough at small n to catch a dropped or doubled term (one term is ~S/n). NaN and inf
// never pass: the comparison is written so that NaN fails, and outputs must be finite.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kernels/ops.h"

namespace dsx::kernels {
namespace {

std::vector<Backend> simd_backends() {
  std::vector<Backend> out;
  const Backend best = best_backend();
  if (best >= Backend::Avx512) out = {Backend::Avx2, Backend::Avx512};
  if (best == Backend::Avx2) out = {Backend::Avx2};
  return out;
}

uint16_t f32_to_f16_bits(float f) {
  // Round to nearest by search over the 65536 codes is too slow; values here are |v| < 8 and
  // normal, so truncating the mantissa is fine (the test only needs some valid f16 weights).
  uint32_t b;
  std::memcpy(&b, &f, 4);
  const uint32_t sign = (b >> 16) & 0x8000u;
  const int exp = static_cast<int>((b >> 23) & 0xff) - 127 + 15;
  if (exp <= 0) return static_cast<uint16_t>(sign);
  return static_cast<uint16_t>(sign | (exp << 10) | ((b >> 13) & 0x3ff));
}

// A random weight matrix of any type, with fp8 block scales spread over a few octaves.
struct Matrix {
  DType type;
  int64_t rows, cols;
  std::vector<uint8_t> data;
  std::vector<float> scales;

  int64_t block;

  Matrix(DType t, int64_t r, int64_t c, uint32_t seed, int64_t blk = 128)
      : type(t), rows(r), cols(c), block(blk) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    data.resize(static_cast<size_t>(r * c) * dtype_size(t));
    for (int64_t i = 0; i < r * c; ++i) {
      const float v = normal(rng);
      switch (t) {
        case DType::F32:
          std::memcpy(&data[i * 4], &v, 4);
          break;
        case DType::BF16: {
          const uint16_t h = f32_to_bf16(v);
          std::memcpy(&data[i * 2], &h, 2);
          break;
        }
        case DType::F16: {
          const uint16_t h = f32_to_f16_bits(v);
          std::memcpy(&data[i * 2], &h, 2);
          break;
        }
        case DType::F8_E4M3: {
          uint8_t q = f32_to_fp8_e4m3(v * 64.0f);
          if ((q & 0x7f) == 0x7f) q = 0x7e;  // never NaN
          data[i] = q;
          break;
        }
        default:
          break;
      }
    }
    scales.resize(((r + blk - 1) / blk) * ((c + blk - 1) / blk));
    for (auto& s : scales)
      s = std::ldexp(1.0f + 0.25f * normal(rng) * normal(rng), -6 + static_cast<int>(rng() % 5));
  }
  WeightView view() const {
    WeightView w;
    w.type = type;
    w.data = data.data();
    w.rows = rows;
    w.cols = cols;
    w.block_scale = scales.data();
    w.block = block;
    return w;
  }
};

const DType kTypes[] = {DType::F32, DType::BF16, DType::F16, DType::F8_E4M3};

// |got - want| <= (n + n/8 + 12) u * S; NaN fails.
::testing::AssertionResult close(float got, float want, double abs_sum, int64_t n) {
  const double u = std::ldexp(1.0, -24);
  const double bound = (static_cast<double>(n) + n / 8.0 + 12.0) * u * abs_sum + 1e-30;
  const double diff = std::fabs(static_cast<double>(got) - static_cast<double>(want));
  if (std::isfinite(got) && diff <= bound) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "got " << got << " want " << want << " diff " << diff << " bound " << bound;
}

bool same_bits(float a, float b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

const int64_t kCols[] = {1, 3, 15, 16, 17, 127, 128, 129, 300, 1000};
const int64_t kRows[] = {1, 3, 17, 130};
const int64_t kTokens[] = {1, 2, 3, 5, 8, 13, 64};

TEST(SimdMatmul, MatchesReferenceAllShapes) {
  ThreadPool pool(2);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  int cases = 0;
  for (Backend backend : simd_backends()) {
    for (DType type : kTypes) {
      for (int64_t cols : kCols) {
        for (int64_t rows : kRows) {
          const Matrix m(type, rows, cols, static_cast<uint32_t>(rows * 7919 + cols));
          const WeightView w = m.view();
          for (int64_t tokens : kTokens) {
            // Unaligned x and y (offset by one float) with strides beyond the row length.
            const int64_t ldx = cols + 3, ldy = rows + 5;
            std::vector<float> xbuf(tokens * ldx + 1), ybuf(tokens * ldy + 1, -7.0f);
            for (auto& v : xbuf) v = normal(rng);
            const float* x = xbuf.data() + 1;
            float* y = ybuf.data() + 1;
            std::vector<float> ref(tokens * rows);
            matmul_reference(x, ldx, tokens, w, ref.data(), rows);
            matmul(x, ldx, tokens, w, y, ldy, &pool, backend);
            for (int64_t t = 0; t < tokens; ++t) {
              for (int64_t r = 0; r < rows; ++r) {
                double abs_sum = 0.0;
                for (int64_t c = 0; c < cols; ++c)
                  abs_sum += std::fabs(double{x[t * ldx + c]} * w.at(r, c));
                ASSERT_TRUE(close(y[t * ldy + r], ref[t * rows + r], abs_sum, cols))
                    << backend_name(backend) << " " << dtype_name(type) << " rows " << rows
                    << " cols " << cols << " tokens " << tokens << " t " << t << " r " << r;
              }
              // The padding between rows of y is never written.
              for (int64_t r = rows; r < ldy && t + 1 < tokens; ++r)
                ASSERT_EQ(y[t * ldy + r], -7.0f);
            }
            ASSERT_EQ(ybuf[0], -7.0f);
            ++cases;
          }
        }
      }
    }
  }
  if (cases == 0) GTEST_SKIP() << "no SIMD backend on this CPU";
}

// y[t][r] depends only on x[t], row r and cols: not on the token count, the tile or band a row
// or token falls in, or the number of threads.
TEST(SimdMatmul, BitIdenticalAcrossTokensAndThreads) {
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  ThreadPool pools[] = {ThreadPool(1), ThreadPool(2), ThreadPool(3), ThreadPool(4)};
  for (Backend backend : simd_backends()) {
    for (DType type : kTypes) {
      for (int64_t cols : {17, 300, 1000}) {
        const int64_t rows = 301;  // three fp8 row blocks, uneven bands and tiles
        const Matrix m(type, rows, cols, 99);
        const WeightView w = m.view();
        const int64_t tokens = 61;  // a full token block plus uneven tiles
        std::vector<float> x(tokens * cols);
        for (auto& v : x) v = normal(rng);
        // Per token alone (GEMV).
        std::vector<float> single(tokens * rows);
        for (int64_t t = 0; t < tokens; ++t) {
          matmul(x.data() + t * cols, cols, 1, w, single.data() + t * rows, rows, nullptr, backend);
        }
        for (ThreadPool& pool : pools) {
          // Prefixes on both sides of each path's token limits (few-token: 12 fp8, 16 others).
          for (int64_t n : {int64_t{2}, int64_t{7}, int64_t{12}, int64_t{13}, int64_t{16},
                            int64_t{17}, tokens}) {
            std::vector<float> y(n * rows);
            matmul(x.data(), cols, n, w, y.data(), rows, &pool, backend);
            for (int64_t i = 0; i < n * rows; ++i) {
              ASSERT_TRUE(same_bits(y[i], single[i]))
                  << backend_name(backend) << " " << dtype_name(type) << " cols " << cols
                  << " threads " << pool.size() << " tokens " << n << " t " << i / rows << " r "
                  << i % rows << ": " << y[i] << " vs " << single[i];
            }
          }
        }
      }
    }
  }
}

// matmul_many: a mix of jobs (GEMV, few-token and many-token products, fp8 and bf16, an empty
// one) gives each job exactly what matmul gives it alone, for every thread count.
TEST(SimdMatmul, ManyJobsMatchSingleCalls) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const Matrix a(DType::BF16, 300, 200, 5), b(DType::F8_E4M3, 260, 300, 6),
      c(DType::F32, 33, 17, 7);
  const struct {
    const Matrix* m;
    int64_t tokens;
  } specs[] = {{&a, 1}, {&b, 1}, {&c, 3}, {&a, 0}, {&b, 9}, {&a, 40}, {&c, 1}};
  for (Backend backend : simd_backends()) {
    std::vector<std::vector<float>> xs, want;
    std::vector<MatmulJob> jobs;
    for (const auto& s : specs) {
      const WeightView w = s.m->view();
      xs.emplace_back(std::max<int64_t>(1, s.tokens) * w.cols);
      for (auto& v : xs.back()) v = normal(rng);
      want.emplace_back(std::max<int64_t>(1, s.tokens) * w.rows, -7.0f);
      matmul(xs.back().data(), w.cols, s.tokens, w, want.back().data(), w.rows, nullptr, backend);
    }
    for (int threads : {1, 2, 3, 4}) {
      ThreadPool pool(threads);
      std::vector<std::vector<float>> ys;
      jobs.clear();
      for (size_t i = 0; i < std::size(specs); ++i) {
        const WeightView w = specs[i].m->view();
        ys.emplace_back(want[i].size(), -7.0f);
        jobs.push_back({xs[i].data(), w.cols, specs[i].tokens, w, ys.back().data(), w.rows});
      }
      matmul_many(jobs, &pool, backend);
      for (size_t i = 0; i < std::size(specs); ++i) {
        ASSERT_EQ(ys[i].size(), want[i].size());
        for (size_t k = 0; k < ys[i].size(); ++k)
          ASSERT_TRUE(same_bits(ys[i][k], want[i][k]))
              << backend_name(backend) << " threads " << threads << " job " << i << " at " << k;
      }
    }
  }
}

// Streamed products (one token; on AMX up to 16) cut each thread's share into pieces, and a thread
// that runs out takes the others' last pieces. With more threads than cores (here 4 and 5 on CI's
// 2) shares finish unevenly and pieces move between threads in most calls: every row must still be
// written once, with the bits a single thread gives.
TEST(SimdMatmul, StreamedPiecesMoveBetweenThreadsWithTheSameBits) {
  std::mt19937 rng(8);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const Matrix big(DType::BF16, 1024, 512, 11), fp8(DType::F8_E4M3, 512, 512, 12),
      odd(DType::BF16, 80, 512, 13);
  const Matrix* mats[] = {&big, &fp8, &odd, &big, &fp8};
  std::vector<Backend> backends = simd_backends();
  if (best_backend() == Backend::Amx) backends.push_back(Backend::Amx);
  for (Backend backend : backends) {
    for (int64_t tokens : {1, 16}) {
      std::vector<std::vector<float>> xs, want;
      for (const Matrix* m : mats) {
        const WeightView w = m->view();
        xs.emplace_back(tokens * w.cols);
        for (auto& v : xs.back()) v = normal(rng);
        want.emplace_back(tokens * w.rows);
        matmul(xs.back().data(), w.cols, tokens, w, want.back().data(), w.rows, nullptr, backend);
      }
      for (int threads : {4, 5}) {
        ThreadPool pool(threads);
        for (int call = 0; call < 20; ++call) {
          std::vector<std::vector<float>> ys;
          std::vector<MatmulJob> jobs;
          for (size_t i = 0; i < std::size(mats); ++i) {
            const WeightView w = mats[i]->view();
            ys.emplace_back(want[i].size(), std::nanf(""));
            jobs.push_back({xs[i].data(), w.cols, tokens, w, ys.back().data(), w.rows});
          }
          matmul_many(jobs, &pool, backend);
          for (size_t i = 0; i < std::size(mats); ++i) {
            for (size_t k = 0; k < ys[i].size(); ++k)
              ASSERT_TRUE(same_bits(ys[i][k], want[i][k]))
                  << backend_name(backend) << " tokens " << tokens << " threads " << threads
                  << " job " << i << " at " << k;
          }
        }
      }
    }
  }
}

// The interleaved layout holds the same matrix: every element reads back through at(), and
// every path (reference, GEMV, few-token, GEMM, any thread count) gives the row-major bits.
TEST(SimdMatmul, InterleavedLayoutGivesTheSameBits) {
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  ThreadPool pools[] = {ThreadPool(1), ThreadPool(2), ThreadPool(3)};
  std::vector<Backend> backends = simd_backends();
  backends.push_back(Backend::Reference);
  for (DType type : kTypes) {
    for (int64_t cols : {64, 320, 1088}) {
      for (int64_t rows : {8, 13, 301}) {  // one group; a group and a tail; tail of 5
        const Matrix m(type, rows, cols, static_cast<uint32_t>(rows + cols));
        const WeightView w = m.view();
        ASSERT_TRUE(can_interleave(w));
        Matrix copy = m;
        WeightView wi = copy.view();
        interleave_rows(wi, copy.data.data());
        ASSERT_TRUE(wi.interleaved);
        if (cols * static_cast<int64_t>(dtype_size(type)) > kInterleaveBytes) {
          EXPECT_NE(copy.data, m.data);  // (a row of one piece is its own interleaving)
        }
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < cols; ++c)
            ASSERT_TRUE(same_bits(wi.at(r, c), w.at(r, c))) << r << " " << c;
        const int64_t tokens = 61;
        std::vector<float> x(tokens * cols);
        for (auto& v : x) v = normal(rng);
        for (Backend backend : backends) {
          for (ThreadPool& pool : pools) {
            for (int64_t n : {int64_t{1}, int64_t{2}, int64_t{7}, int64_t{12}, int64_t{13},
                              int64_t{16}, int64_t{17}, tokens}) {
              // The reference reads through at() (checked above): one product is enough.
              if (backend == Backend::Reference && (pool.size() > 1 || n > 2)) continue;
              std::vector<float> want(n * rows), got(n * rows);
              matmul(x.data(), cols, n, w, want.data(), rows, &pool, backend);
              matmul(x.data(), cols, n, wi, got.data(), rows, &pool, backend);
              for (int64_t i = 0; i < n * rows; ++i)
                ASSERT_TRUE(same_bits(got[i], want[i]))
                    << backend_name(backend) << " " << dtype_name(type) << " rows " << rows
                    << " cols " << cols << " threads " << pool.size() << " tokens " << n << " at "
                    << i;
            }
          }
        }
      }
    }
  }
}

TEST(SimdMatmul, InterleaveRefusesShapesItCannotHold) {
  const Matrix odd(DType::BF16, 16, 40, 1);                // 80-byte rows: not whole pieces
  const Matrix short_rows(DType::F32, 7, 64, 2);           // no whole group
  const Matrix fp8_block(DType::F8_E4M3, 64, 128, 3, 20);  // scale blocks cut groups
  for (const Matrix* m : {&odd, &short_rows, &fp8_block}) {
    WeightView w = m->view();
    EXPECT_FALSE(can_interleave(w));
    std::vector<uint8_t> data = m->data;
    EXPECT_THROW(interleave_rows(w, data.data()), Error);
    EXPECT_FALSE(w.interleaved);
    EXPECT_EQ(data, m->data);
  }
}

// fp8 with scale blocks other than 128 (any multiple of 16): still the reference's values, and
// still bit-identical between GEMV and GEMM and across threads.
TEST(SimdMatmul, Fp8OtherBlockSizes) {
  std::mt19937 rng(6);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  ThreadPool pool(3);
  for (Backend backend : simd_backends()) {
    for (int64_t block : {16, 48, 384}) {
      for (int64_t cols : {5, 100, 700}) {
        const int64_t rows = 203, tokens = 9;
        const Matrix m(DType::F8_E4M3, rows, cols, static_cast<uint32_t>(block + cols), block);
        const WeightView w = m.view();
        std::vector<float> x(tokens * cols), y(tokens * rows), ref(tokens * rows), one(rows);
        for (auto& v : x) v = normal(rng);
        matmul_reference(x.data(), cols, tokens, w, ref.data(), rows);
        matmul(x.data(), cols, tokens, w, y.data(), rows, &pool, backend);
        for (int64_t t = 0; t < tokens; ++t) {
          matmul(x.data() + t * cols, cols, 1, w, one.data(), rows, nullptr, backend);
          for (int64_t r = 0; r < rows; ++r) {
            double abs_sum = 0.0;
            for (int64_t c = 0; c < cols; ++c)
              abs_sum += std::fabs(double{x[t * cols + c]} * w.at(r, c));
            ASSERT_TRUE(close(y[t * rows + r], ref[t * rows + r], abs_sum, cols))
                << backend_name(backend) << " block " << block << " cols " << cols;
            ASSERT_TRUE(same_bits(y[t * rows + r], one[r])) << "block " << block << " r " << r;
          }
        }
      }
    }
  }
}

// Every fp8 code decodes (times a unit scale) to exactly fp8_e4m3_to_f32, in GEMV and GEMM.
TEST(SimdMatmul, Fp8DecodesAllCodes) {
  // w: [256, 1], row i holds code i; x = 1, so y[i] = decode(i) * 1 with no rounding anywhere.
  std::vector<uint8_t> codes(256);
  for (int i = 0; i < 256; ++i) codes[i] = static_cast<uint8_t>(i);
  const float scales[2] = {1.0f, 1.0f};
  WeightView w;
  w.type = DType::F8_E4M3;
  w.data = codes.data();
  w.rows = 256;
  w.cols = 1;
  w.block_scale = scales;
  for (Backend backend : simd_backends()) {
    for (int64_t tokens : {1, 3}) {
      const std::vector<float> x(tokens, 1.0f);
      std::vector<float> y(tokens * 256);
      matmul(x.data(), 1, tokens, w, y.data(), 256, nullptr, backend);
      for (int i = 0; i < 256; ++i) {
        if ((i & 0x7f) == 0x7f) continue;  // NaN codes: never stored by DeepSeek checkpoints
        for (int64_t t = 0; t < tokens; ++t) {
          ASSERT_EQ(y[t * 256 + i], fp8_e4m3_to_f32(static_cast<uint8_t>(i)))
              << backend_name(backend) << " code " << i << " tokens " << tokens;
        }
      }
    }
  }
}

TEST(SimdVector, DotAndAxpyMatchReference) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (Backend backend : simd_backends()) {
    for (int64_t n : {0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 127, 128, 129, 300, 576, 1000}) {
      std::vector<float> a(n + 1), b(n + 1), y(n + 2), yref(n);
      for (auto& v : a) v = normal(rng);
      for (auto& v : b) v = normal(rng);
      for (auto& v : y) v = normal(rng);
      // dot: unaligned inputs, and the result depends only on n (same bits at another address).
      double abs_sum = 0.0;
      for (int64_t i = 0; i < n; ++i) abs_sum += std::fabs(double{a[i + 1]} * b[i + 1]);
      const float got = dot(a.data() + 1, b.data() + 1, n, backend);
      ASSERT_TRUE(close(got, dot_reference(a.data() + 1, b.data() + 1, n), abs_sum, n))
          << backend_name(backend) << " n " << n;
      std::vector<float> a2(a.begin() + 1, a.end()), b2(b.begin() + 1, b.end());
      ASSERT_TRUE(same_bits(got, dot(a2.data(), b2.data(), n, backend)));
      // axpy: one fma per element against the reference's multiply then add: each differs by at
      // most one rounding of the product and one of the sum, 2u(|a x| + |y|).
      const float alpha = normal(rng);
      for (int64_t i = 0; i < n; ++i) yref[i] = y[i + 1];
      axpy_reference(alpha, a.data() + 1, yref.data(), n);
      const float before_last = y[n + 1];
      std::vector<float> y0(y);
      axpy(alpha, a.data() + 1, y.data() + 1, n, backend);
      for (int64_t i = 0; i < n; ++i) {
        const double bound = 2.0 * std::ldexp(1.0, -24) *
                             (std::fabs(double{alpha} * a[i + 1]) + std::fabs(double{y0[i + 1]}) +
                              std::fabs(double{yref[i]}));
        ASSERT_TRUE(std::isfinite(y[i + 1]) && std::fabs(double{y[i + 1]} - yref[i]) <= bound)
            << backend_name(backend) << " n " << n << " i " << i;
      }
      ASSERT_EQ(y[0], y0[0]);  // neighbours untouched
      ASSERT_EQ(y[n + 1], before_last);
    }
  }
}

TEST(SimdVector, BestBackendEntryPointsAgree) {
  // The three-argument dot/axpy use best_backend().
  std::vector<float> a(100, 0.5f), b(100, 0.25f), y(100, 1.0f), y2(100, 1.0f);
  EXPECT_TRUE(
      same_bits(dot(a.data(), b.data(), 100), dot(a.data(), b.data(), 100, best_backend())));
  axpy(2.0f, a.data(), y.data(), 100);
  axpy(2.0f, a.data(), y2.data(), 100, best_backend());
  EXPECT_EQ(y, y2);
  EXPECT_EQ(dot(a.data(), b.data(), 0), 0.0f);
}

TEST(Machine, MeasuresPlausibleLimits) {
  ThreadPool pool(2);
  const double gflops = measure_fma_peak_gflops(&pool);
  EXPECT_GT(gflops, 1.0);
  EXPECT_LT(gflops, 1e5);
  const double gbs = measure_read_bandwidth_gbs(&pool);
  EXPECT_GT(gbs, 0.1);
  EXPECT_LT(gbs, 1e4);
}

// The pool under the patterns the engine produces: back-to-back calls (workers spinning), calls
// after idle gaps (workers asleep), uneven n, and destruction right after use.
TEST(ThreadPool, HandOffUnderSpinAndSleep) {
  for (int threads : {2, 3, 4}) {
    ThreadPool pool(threads);
    std::vector<int64_t> hits(1000);
    for (int call = 0; call < 1500; ++call) {
      const int64_t n = 1 + (call * 37) % 1000;
      pool.parallel_for(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[i] += 1;
      });
      if (call % 300 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    int64_t total = 0, expect = 0;
    for (int64_t v : hits) total += v;
    for (int call = 0; call < 1500; ++call) expect += 1 + (call * 37) % 1000;
    EXPECT_EQ(total, expect);
  }
  for (int i = 0; i < 50; ++i) {
    ThreadPool pool(3);
    std::atomic<int> sum{0};
    pool.parallel_for(3, [&](int64_t b, int64_t e) { sum += static_cast<int>(e - b); });
    EXPECT_EQ(sum.load(), 3);
  }
}

TEST(ThreadPool, CallerExceptionWaitsForWorkers) {
  ThreadPool pool(3);
  std::atomic<int> done{0};
  EXPECT_THROW(pool.parallel_for(3,
                                 [&](int64_t b, int64_t) {
                                   if (b == 0) throw std::runtime_error("x");
                                   std::this_thread::sleep_for(std::chrono::milliseconds(5));
                                   done++;
                                 }),
               std::runtime_error);
  EXPECT_EQ(done.load(), 2);  // both workers finished before parallel_for returned
  pool.parallel_for(3, [&](int64_t, int64_t) { done++; });
  EXPECT_EQ(done.load(), 5);
}

}  // namespace
}  // namespace dsx::kernels
