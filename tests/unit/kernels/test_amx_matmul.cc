// The AMX matmul (Backend::Amx) and the tile layout: results within the bound its arithmetic
// implies of the scalar reference, and the same bits for any token count, band, thread count and
// layout. Skipped where the CPU or OS offers no AMX.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/ops.h"

namespace dsx::kernels {
namespace {

bool have_amx() {
  return best_backend() == Backend::Amx;
}

// A stored matrix and its bytes (kept alive with the view).
struct Matrix {
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
  WeightView w;
};

// Weights of varied magnitude (the products' sizes then differ by orders of magnitude).
Matrix random_matrix(DType type, int64_t rows, int64_t cols, uint32_t seed, int64_t block = 128) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Matrix m;
  m.w.type = type;
  m.w.rows = rows;
  m.w.cols = cols;
  if (type == DType::BF16) {
    m.bytes.resize(static_cast<size_t>(rows * cols * 2));
    auto* p = reinterpret_cast<uint16_t*>(m.bytes.data());
    for (int64_t i = 0; i < rows * cols; ++i)
      p[i] = f32_to_bf16(normal(rng) * std::exp2(std::round(normal(rng) * 3)));
  } else {  // fp8: any code but the NaNs, scales over a few octaves
    m.bytes.resize(static_cast<size_t>(rows * cols));
    std::uniform_int_distribution<int> code(0, 253);
    for (uint8_t& b : m.bytes) {
      const int c = code(rng);
      b = static_cast<uint8_t>(c >= 0x7f ? c + 1 : c);  // skips 0x7f; 0xff is past 253 + 1
    }
    m.w.block = block;
    const int64_t sr = (rows + block - 1) / block, sc = (cols + block - 1) / block;
    for (int64_t i = 0; i < sr * sc; ++i) m.scales.push_back(std::exp2(normal(rng) * 2) * 1e-2f);
    m.w.block_scale = m.scales.data();
  }
  m.w.data = m.bytes.data();
  return m;
}

// fp8 codes as trained weights have them: almost all of exponent field e > 0 (the AMX kernel
// decodes those arithmetically), one in 300 a zero or subnormal (a pair of tile rows holding one,
// about one pair in five here, takes the table).
void mostly_normal_codes(Matrix& m, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> code(0, 255), rare(0, 299);
  for (uint8_t& b : m.bytes) {
    if (rare(rng) == 0) {
      b = static_cast<uint8_t>(code(rng) & 0x87);  // sign and mantissa, e = 0
      continue;
    }
    do b = static_cast<uint8_t>(code(rng));
    while ((b & 0x78) == 0 || (b & 0x7f) == 0x7f);
  }
}

Matrix tiled_copy(const Matrix& src) {
  Matrix m = src;
  m.w.data = m.bytes.data();
  m.w.block_scale = m.scales.empty() ? nullptr : m.scales.data();
  EXPECT_TRUE(can_tile(m.w));
  tile_rows(m.w, m.bytes.data());
  return m;
}

std::vector<float> random_x(int64_t tokens, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(tokens * cols));
  for (float& v : x) v = normal(rng) * std::exp2(std::round(normal(rng) * 2));
  return x;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

TEST(TileLayout, KeepsEveryElement) {
  for (DType type : {DType::BF16, DType::F8_E4M3}) {
    for (int64_t rows : {16, 37, 48}) {
      const Matrix m = random_matrix(type, rows, 96, 7, 32);
      const Matrix t = tiled_copy(m);
      EXPECT_TRUE(t.w.tiled);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < 96; ++c)
          ASSERT_EQ(m.w.at(r, c), t.w.at(r, c)) << dtype_name(type) << " " << r << "," << c;
    }
  }
}

TEST(TileLayout, OnlyWhereTheTilesFit) {
  EXPECT_FALSE(can_tile(random_matrix(DType::BF16, 16, 48, 1).w));  // columns not whole tiles
  EXPECT_FALSE(can_tile(random_matrix(DType::BF16, 15, 64, 1).w));  // no whole group
  EXPECT_FALSE(can_tile(random_matrix(DType::F8_E4M3, 32, 64, 1, 16).w));  // blocks cut tiles
  Matrix f32;
  std::vector<float> data(16 * 64, 1.0f);
  f32.w = {DType::F32, data.data(), 16, 64};
  EXPECT_FALSE(can_tile(f32.w));
  Matrix t = tiled_copy(random_matrix(DType::BF16, 32, 64, 1));
  EXPECT_FALSE(can_tile(t.w));  // already tiled
  EXPECT_NO_THROW(row_band(t.w, 16, 16));
  EXPECT_THROW(row_band(t.w, 8, 16), Error);
}

// |AMX - reference| <= (4 cols + 2 blocks + 1) 2^-24 sum_c |x_c w_c|: the three-part split leaves
// under 2^-27 |x|; AMX and the reference each round at most once per column and part added (3
// cols + cols), fp8 once more per scale block (the multiply and the add).
TEST(AmxMatmul, WithinTheArithmeticsBoundOfTheReference) {
  if (!have_amx()) GTEST_SKIP() << "no AMX";
  for (DType type : {DType::BF16, DType::F8_E4M3}) {
    for (int64_t rows : {16, 37, 100}) {
      for (int64_t cols : {32, 96, 1024}) {
        const int64_t block = cols == 96 ? 32 : 128;
        const Matrix m = random_matrix(type, rows, cols, static_cast<uint32_t>(rows * cols), block);
        const int64_t tokens = 21;
        const std::vector<float> x = random_x(tokens, cols, 3);
        std::vector<float> ref(tokens * rows), amx(tokens * rows);
        matmul_reference(x.data(), cols, tokens, m.w, ref.data(), rows);
        matmul(x.data(), cols, tokens, m.w, amx.data(), rows, nullptr, Backend::Amx);
        const double blocks = type == DType::F8_E4M3 ? (cols + block - 1) / block : 0;
        const double rel = (4.0 * cols + 2.0 * blocks + 1.0) * std::exp2(-24.0);
        for (int64_t t = 0; t < tokens; ++t) {
          for (int64_t r = 0; r < rows; ++r) {
            double mag = 0;
            for (int64_t c = 0; c < cols; ++c) mag += std::fabs(x[t * cols + c] * m.w.at(r, c));
            ASSERT_LE(std::fabs(amx[t * rows + r] - ref[t * rows + r]), rel * mag)
                << dtype_name(type) << " " << rows << "x" << cols << " t" << t << " r" << r;
          }
        }
      }
    }
  }
}

// A token's outputs are the same bits alone, at any place among others, in any band, on any
// number of threads, and with the weights row-major or tiled.
// fp8 twice: every code alike, and codes as trained weights have them (mostly_normal_codes).
TEST(AmxMatmul, SameBitsWhateverTheBatchBandThreadsOrLayout) {
  if (!have_amx()) GTEST_SKIP() << "no AMX";
  for (int variant = 0; variant < 3; ++variant) {
    const DType type = variant == 0 ? DType::BF16 : DType::F8_E4M3;
    const int64_t rows = 272 + 5, cols = 384, tokens = 70;
    Matrix m = random_matrix(type, rows, cols, 11, 128);
    if (variant == 2) mostly_normal_codes(m, 12);
    const Matrix t = tiled_copy(m);
    const std::vector<float> x = random_x(tokens, cols, 5);
    std::vector<float> all(tokens * rows);
    matmul(x.data(), cols, tokens, m.w, all.data(), rows, nullptr, Backend::Amx);
    for (int64_t tok : {0, 15, 16, 17, 63, 64, 69}) {
      std::vector<float> one(rows),
          from_all(all.begin() + tok * rows, all.begin() + (tok + 1) * rows);
      matmul(x.data() + tok * cols, cols, 1, m.w, one.data(), rows, nullptr, Backend::Amx);
      EXPECT_TRUE(same_bits(one, from_all)) << dtype_name(type) << " token " << tok;
    }
    for (const Matrix* layout : {static_cast<const Matrix*>(&m), &t}) {
      for (int threads : {1, 2, 4}) {
        ThreadPool pool(threads);
        for (int64_t n : {int64_t{1}, int64_t{16}, tokens}) {
          std::vector<float> y(n * rows);
          matmul(x.data(), cols, n, layout->w, y.data(), rows, &pool);
          EXPECT_TRUE(same_bits(y, std::vector<float>(all.begin(), all.begin() + n * rows)))
              << dtype_name(type) << " threads " << threads << " tokens " << n
              << (layout->w.tiled ? " tiled" : " row-major");
        }
      }
      // A band starting mid-matrix (fp8: on a scale block) gives its rows' bits.
      const int64_t r0 = 128;
      std::vector<float> band(tokens * (rows - r0));
      matmul(x.data(), cols, tokens, row_band(layout->w, r0, rows - r0), band.data(), rows - r0,
             nullptr, Backend::Amx);
      for (int64_t tok = 0; tok < tokens; ++tok)
        ASSERT_EQ(std::memcmp(band.data() + tok * (rows - r0), all.data() + tok * rows + r0,
                              (rows - r0) * 4),
                  0)
            << dtype_name(type) << " band, token " << tok;
    }
  }
}

// Weights AMX does not take (float32, columns not whole tiles) run the AVX-512 kernels' order.
TEST(AmxMatmul, OtherWeightsKeepTheVectorKernels) {
  if (!have_amx()) GTEST_SKIP() << "no AMX";
  const Matrix m = random_matrix(DType::BF16, 24, 48, 2);
  std::vector<float> x = random_x(5, 48, 9), a(5 * 24), b(5 * 24);
  matmul(x.data(), 48, 5, m.w, a.data(), 24, nullptr, Backend::Amx);
  matmul(x.data(), 48, 5, m.w, b.data(), 24, nullptr, Backend::Avx512);
  EXPECT_TRUE(same_bits(a, b));
}

}  // namespace
}  // namespace dsx::kernels
