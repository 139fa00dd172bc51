// The latent attention kernels (attention_scores, attention_values) against their scalar
// references. Each output of both is a single FMA chain in a documented order, on every backend,
// so the comparison is exact (bit for bit): any difference is a wrong term, a wrong order or a
// touched neighbour, not rounding.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/ops.h"

namespace dsx::kernels {
namespace {

std::vector<Backend> backends() {
  std::vector<Backend> out = {Backend::Reference};
  const Backend best = best_backend();
  if (best >= Backend::Avx2) out.push_back(Backend::Avx2);
  if (best >= Backend::Avx512) out.push_back(Backend::Avx512);
  return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct Shape {
  int64_t tokens, heads, padded, dim, nkeys;
};

// Odd sizes on every axis: partial vectors, key counts that leave every tile remainder, dims
// that are not multiples of the vector width, and the real MLA shape (16 heads, 576/512).
const Shape kShapes[] = {
    {1, 16, 16, 576, 16}, {1, 16, 16, 576, 13}, {3, 16, 16, 576, 16}, {4, 16, 16, 512, 9},
    {2, 5, 16, 33, 7},    {5, 20, 32, 70, 31},  {1, 1, 16, 1, 1},     {7, 16, 16, 17, 3},
    {2, 128, 128, 40, 5}, {3, 16, 16, 192, 29}, {3, 16, 16, 128, 21},
};

TEST(AttentionKernels, ScoresMatchReferenceExactly) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const Shape& sh : kShapes) {
    // Keys at an odd offset (unaligned rows) with a stride wider than dim, as in the cache: an odd
    // one, and DeepSeek's 576 and 192 (which the kernels specialise).
    for (const int64_t stride :
         {sh.dim + 3, std::max<int64_t>(sh.dim, 576), std::max<int64_t>(sh.dim, 192)}) {
      std::vector<float> keys(1 + sh.nkeys * stride);
      for (auto& v : keys) v = normal(rng);
      std::vector<float> qt(1 + sh.tokens * sh.dim * sh.padded);
      for (auto& v : qt) v = normal(rng);
      const int64_t ldt = sh.nkeys * sh.padded + 5;  // token stride of the scores, with a gap
      std::vector<float> want(sh.tokens * ldt + 1, -7.0f);
      attention_scores_reference(qt.data() + 1, sh.tokens, sh.padded, sh.dim, keys.data() + 1,
                                 stride, sh.nkeys, want.data(), ldt);
      for (Backend b : backends()) {
        // With and without a next run to request (a hint: the same bits either way).
        const float* const nexts[] = {nullptr, keys.data()};
        for (const float* next : nexts) {
          std::vector<float> got(want.size(), -7.0f);
          attention_scores(qt.data() + 1, sh.tokens, sh.padded, sh.dim, keys.data() + 1, stride,
                           sh.nkeys, got.data(), ldt, next, b);
          EXPECT_TRUE(same_bits(got, want))
              << backend_name(b) << " tokens " << sh.tokens << " dim " << sh.dim << " keys "
              << sh.nkeys << " stride " << stride;
        }
      }
    }
  }
}

TEST(AttentionKernels, ValuesMatchReferenceExactly) {
  std::mt19937 rng(12);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const Shape& sh : kShapes) {
    // Key rows scattered (as across cache blocks), each at an odd offset, with the rope part after.
    const int64_t stride = sh.dim + 64 + 1;
    std::vector<float> storage(1 + 2 * sh.nkeys * stride);
    for (auto& v : storage) v = normal(rng);
    std::vector<const float*> keys(sh.nkeys);
    for (int64_t j = 0; j < sh.nkeys; ++j)
      keys[j] = storage.data() + 1 + ((j * 7) % sh.nkeys) * 2 * stride;
    const int64_t ldt = sh.nkeys * sh.padded + 2;
    std::vector<float> p(1 + sh.tokens * ldt);
    for (auto& v : p) v = normal(rng);
    // o starts as garbage: the kernels overwrite it.
    std::vector<float> want(sh.tokens * sh.heads * sh.dim, -7.0f);
    attention_values_reference(p.data() + 1, ldt, sh.padded, sh.tokens, sh.heads, keys.data(),
                               sh.nkeys, sh.dim, want.data());
    for (Backend b : backends()) {
      std::vector<float> got(want.size(), 3.0f);
      attention_values(p.data() + 1, ldt, sh.padded, sh.tokens, sh.heads, keys.data(), sh.nkeys,
                       sh.dim, got.data(), b);
      EXPECT_TRUE(same_bits(got, want)) << backend_name(b) << " tokens " << sh.tokens << " heads "
                                        << sh.heads << " dim " << sh.dim;
    }
  }
}

// Softmax statistics: the max is exact (the same scaled values), the weights differ from the
// reference only by the exp: the SIMD exp is within ~2 ulp of std::exp (see softmax_lanes.cc), so
// each weight must be within 4 ulp of the reference's, relatively, and each sum (same order, terms
// 4 ulp apart, `valid` roundings each) within (4 + valid) ulp. Masked keys are exactly 0.
TEST(AttentionKernels, SoftmaxMatchesReference) {
  std::mt19937 rng(13);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  const double ulp = std::ldexp(1.0, -23);
  for (int64_t padded : {16, 32}) {
    for (int64_t n : {1, 7, 64}) {
      for (int64_t valid : {int64_t{0}, int64_t{1}, n / 2, n}) {
        std::vector<float> s(n * padded);
        for (auto& v : s) v = normal(rng);
        s[0] = -300.0f;  // far below the max: underflows to 0 or a tiny weight
        std::vector<float> ref = s, mref(padded), lref(padded);
        attention_softmax_reference(ref.data(), n, valid, padded, 0.125f, mref.data(), lref.data());
        for (Backend b : backends()) {
          std::vector<float> got = s, m(padded), l(padded);
          attention_softmax(got.data(), n, valid, padded, 0.125f, m.data(), l.data(), b);
          for (int64_t p = 0; p < padded; ++p) {
            ASSERT_EQ(std::memcmp(&m[p], &mref[p], sizeof(float)), 0) << backend_name(b);
            ASSERT_LE(std::fabs(double{l[p]} - lref[p]), (4.0 + valid) * ulp * lref[p])
                << backend_name(b) << " n " << n << " valid " << valid;
          }
          for (int64_t i = 0; i < n * padded; ++i) {
            if (i / padded >= valid) {
              ASSERT_EQ(got[i], 0.0f);
            } else {
              ASSERT_LE(std::fabs(double{got[i]} - ref[i]), 4.0 * ulp * ref[i] + 1e-37)
                  << backend_name(b) << " at " << i << ": " << got[i] << " vs " << ref[i];
            }
          }
        }
      }
    }
  }
}

// The causal softmax (lane p attends keys j < min(n, first + p)) under the same bounds as the
// plain one above, lane by lane with that lane's valid count: key counts that end inside, at and
// past the staggered diagonal of every lane block, two lane blocks, and a first of 1 (lane 0
// attends one key). Keys past a lane's last are exactly 0.
TEST(AttentionKernels, CausalSoftmaxMatchesReference) {
  std::mt19937 rng(15);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  const double ulp = std::ldexp(1.0, -23);
  for (int64_t padded : {16, 32}) {
    for (int64_t n : {1, 7, 16, 40, 64}) {
      for (int64_t first : {int64_t{1}, int64_t{5}, n / 2 + 1, n}) {
        std::vector<float> s(n * padded);
        for (auto& v : s) v = normal(rng);
        s[0] = -300.0f;
        std::vector<float> ref = s, lref(padded);
        attention_softmax_causal_reference(ref.data(), n, first, padded, 0.125f, lref.data());
        for (Backend b : backends()) {
          std::vector<float> got = s, l(padded);
          attention_softmax_causal(got.data(), n, first, padded, 0.125f, l.data(), b);
          for (int64_t p = 0; p < padded; ++p) {
            const int64_t valid = std::min(n, first + p);
            ASSERT_LE(std::fabs(double{l[p]} - lref[p]), (4.0 + valid) * ulp * lref[p])
                << backend_name(b) << " n " << n << " first " << first << " lane " << p;
            for (int64_t j = 0; j < n; ++j) {
              const float g = got[j * padded + p], r = ref[j * padded + p];
              if (j >= valid) {
                ASSERT_EQ(g, 0.0f) << backend_name(b) << " key " << j << " lane " << p;
              } else {
                ASSERT_LE(std::fabs(double{g} - r), 4.0 * ulp * r + 1e-37)
                    << backend_name(b) << " key " << j << " lane " << p;
              }
            }
          }
        }
      }
    }
  }
}

// silu_mul on SIMD backends uses the vector exp: each output within 8 ulp of the reference's
// (both are a few roundings from the exact value), over gates from -100 to 100 (so both exp
// branches, and gates whose exp underflows) and odd lengths (masked tails); it may run in place.
TEST(ExpKernels, SiluMulMatchesReference) {
  std::mt19937 rng(14);
  std::uniform_real_distribution<float> wide(-100.0f, 100.0f);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  const double ulp = std::ldexp(1.0, -23);
  for (int64_t n : {1, 7, 16, 17, 100, 1000}) {
    std::vector<float> gate(n), up(n), want(n);
    for (int64_t i = 0; i < n; ++i)
      gate[i] = i % 3 == 0 ? wide(rng) : normal(rng), up[i] = normal(rng);
    silu_mul_reference(gate.data(), up.data(), n, want.data());
    for (Backend b : backends()) {
      std::vector<float> got = gate;  // in place, as the model calls it
      silu_mul(got.data(), up.data(), n, got.data(), b);
      for (int64_t i = 0; i < n; ++i)
        ASSERT_LE(std::fabs(double{got[i]} - want[i]), 8.0 * ulp * std::fabs(want[i]) + 1e-30)
            << backend_name(b) << " gate " << gate[i] << ": " << got[i] << " vs " << want[i];
    }
  }
}

}  // namespace
}  // namespace dsx::kernels
