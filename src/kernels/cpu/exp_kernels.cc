// Kernels built on a vector exp (ops.h): attention_softmax (per-lane softmax statistics of a
// chunk of scores) and silu_mul.
//
// exp(x) for x <= 0 (scores minus their running max; -|gate| for silu): x = n ln2 + r with n =
// round(x / ln2) and |r| <= ln2 / 2 (ln2 split in a high part with 9 significant bits, so n times
// it is exact for the n that occur, and a low part), e^r from its degree-7 Taylor polynomial
// (truncation below 0.05 ulp on that interval; Horner's roundings add about 1 ulp), times 2^n.
// Below -87 (weights under 2^-125 of the largest) the result is 0. The same operations on every
// lane, so it is deterministic.
#ifndef DSX_CPU_KERNEL_BODY
#include <algorithm>
#include <cmath>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd.h"

#define DSX_CPU_KERNEL_BODY
DSX_BEGIN_AVX512
namespace dsx::kernels::cpu::avx512 {
#include "kernels/cpu/exp_kernels.cc"  // NOLINT(build/include): the body, see above
}  // namespace dsx::kernels::cpu::avx512
DSX_END_TARGET
DSX_BEGIN_AVX2
namespace dsx::kernels::cpu::avx2 {
#include "kernels/cpu/exp_kernels.cc"  // NOLINT(build/include)
}  // namespace dsx::kernels::cpu::avx2
DSX_END_TARGET
#undef DSX_CPU_KERNEL_BODY

#else  // the body

namespace {

inline F exp_nonpositive(F x) {
  const F n = round_nearest(mul(x, set1(1.44269504088896341f)));
  // x - n ln2 in two steps: 0.693359375 has 9 significant bits, so n times it is exact.
  F r = fmadd(n, set1(-0.693359375f), x);
  r = fmadd(n, set1(2.12194440e-4f), r);
  // e^r = 1 + r + r^2/2! + ... + r^7/7!, Horner.
  F p = set1(1.0f / 5040.0f);
  p = fmadd(p, r, set1(1.0f / 720.0f));
  p = fmadd(p, r, set1(1.0f / 120.0f));
  p = fmadd(p, r, set1(1.0f / 24.0f));
  p = fmadd(p, r, set1(1.0f / 6.0f));
  p = fmadd(p, r, set1(0.5f));
  p = fmadd(p, r, set1(1.0f));
  p = fmadd(p, r, set1(1.0f));
  return select_ge(x, set1(-87.0f), times_pow2(p, n), zero());
}

}  // namespace

void attention_softmax(float* s, int64_t n, int64_t valid, int64_t padded, float scale, float* m,
                       float* l) {
  const F vscale = set1(scale);
  for (int64_t p = 0; p < padded; p += kLanes) {
    F top = set1(-INFINITY);
    for (int64_t j = 0; j < valid; ++j) {
      const F v = mul(loadu(s + j * padded + p), vscale);
      storeu(s + j * padded + p, v);
      top = max(top, v);
    }
    F sum = zero();
    for (int64_t j = 0; j < valid; ++j) {
      const F e = exp_nonpositive(sub(loadu(s + j * padded + p), top));
      storeu(s + j * padded + p, e);
      sum = add(sum, e);
    }
    for (int64_t j = valid; j < n; ++j) storeu(s + j * padded + p, zero());
    storeu(m + p, top);
    storeu(l + p, sum);
  }
}

// Lane i of a block at lane offset pb has its valid keys end at first + pb + i: keys below
// first + pb are valid on every lane, and from there to the block's last valid key a lane mask
// (i >= j - first - pb + 1) picks them. Masked lanes add exact zeros to the sum, so each lane's
// operations are those of the reference on its own valid keys.
void attention_softmax_causal(float* s, int64_t n, int64_t first, int64_t padded, float scale,
                              float* l) {
  alignas(64) float iota_values[kLanes];
  for (int i = 0; i < kLanes; ++i) iota_values[i] = static_cast<float>(i);
  const F iota = loadu(iota_values), vscale = set1(scale), minus_inf = set1(-INFINITY);
  for (int64_t pb = 0; pb < padded; pb += kLanes) {
    const int64_t all = std::min(n, first + pb);               // keys every lane attends
    const int64_t end = std::min(n, first + pb + kLanes - 1);  // one past the last any lane does
    // The smallest lane index that attends key j (j >= all).
    auto lane_limit = [&](int64_t j) { return set1(static_cast<float>(j - first - pb + 1)); };
    F top = minus_inf;
    for (int64_t j = 0; j < end; ++j) {
      const F v = mul(loadu(s + j * padded + pb), vscale);
      storeu(s + j * padded + pb, v);
      top = max(top, j < all ? v : select_ge(iota, lane_limit(j), v, minus_inf));
    }
    F sum = zero();
    for (int64_t j = 0; j < end; ++j) {
      F e = exp_nonpositive(sub(loadu(s + j * padded + pb), top));
      if (j >= all) e = select_ge(iota, lane_limit(j), e, zero());
      storeu(s + j * padded + pb, e);
      sum = add(sum, e);
    }
    for (int64_t j = end; j < n; ++j) storeu(s + j * padded + pb, zero());
    storeu(l + pb, sum);
  }
}

// silu(g) * u = g * sigmoid(g) * u with sigmoid(g) = 1 / (1 + e) for g >= 0 and e / (1 + e)
// otherwise, e = exp(-|g|): the exp argument is never positive, so nothing overflows.
void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  int64_t i = 0;
  auto one = [&](F g, F u) {
    const F e = exp_nonpositive(sub(zero(), max(g, sub(zero(), g))));
    const F sig = div(select_ge(g, zero(), set1(1.0f), e), add(set1(1.0f), e));
    return mul(mul(g, sig), u);
  };
  for (; i + kLanes <= n; i += kLanes) storeu(out + i, one(loadu(gate + i), loadu(up + i)));
  if (i < n) {
    const int rest = static_cast<int>(n - i);
    store_first(out + i, one(load_first(gate + i, rest), load_first(up + i, rest)), rest);
  }
}

#endif
