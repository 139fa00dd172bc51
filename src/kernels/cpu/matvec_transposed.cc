// matvec_transposed_rows: y[c] = sum_{i < n} x[i] * w[r0 + i][c] (folds W_UK into the query in
// absorbed MLA decode: n = qk_nope_head_dim rows of one head, cols = kv_lora_rank).
// Order: each y[c] is one chain acc = fma(x[i], w[r0 + i][c], acc) over i = 0..n-1, so it
// depends only on column c of the band. Columns go in blocks of kCols vectors held in registers
// while the rows stream past. fp8 weights are decoded and scaled to exactly the reference's
// q * scale before the FMA.
//
// The body below is compiled once per instruction set: this file includes itself inside each
// target region (the same scheme as matmul_tiling.h, kept in one file for a small kernel).
#ifndef DSX_CPU_KERNEL_BODY
#include <algorithm>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd.h"

#define DSX_CPU_KERNEL_BODY
DSX_BEGIN_AVX512
namespace dsx::kernels::cpu::avx512 {
#include "kernels/cpu/matvec_transposed.cc"  // NOLINT(build/include): the body, see above
}  // namespace dsx::kernels::cpu::avx512
DSX_END_TARGET
DSX_BEGIN_AVX2
namespace dsx::kernels::cpu::avx2 {
#include "kernels/cpu/matvec_transposed.cc"  // NOLINT(build/include)
}  // namespace dsx::kernels::cpu::avx2
DSX_END_TARGET
#undef DSX_CPU_KERNEL_BODY

#else  // the body

namespace mvt {

constexpr int kCols = 8;  // vectors per column block (accumulators in registers)

// Weight chunk j (kLanes columns from c) of row `row` as float32; n < kLanes: a partial chunk.
struct Loader {
  const WeightView& w;
  const float* scale_row;  // fp8: the block-scale row of `row`

  F operator()(int64_t row, int64_t c, int n) const {
    const int64_t i = row * w.cols + c;
    switch (w.type) {
      case DType::BF16: {
        const auto* p = static_cast<const uint16_t*>(w.data) + i;
        return n == kLanes ? load_bf16(p) : load_bf16_first(p, n);
      }
      case DType::F16: {
        const auto* p = static_cast<const uint16_t*>(w.data) + i;
        return n == kLanes ? load_f16(p) : load_f16_first(p, n);
      }
      case DType::F8_E4M3: {
        const auto* p = static_cast<const uint8_t*>(w.data) + i;
        // decode gives q * 2^-8; times 256 * scale is exactly the reference's q * scale.
        const F s = set1(scale_row[c / w.block] * 256.0f);
        return mul(n == kLanes ? load_fp8(p) : load_fp8_first(p, n), s);
      }
      default: {
        const auto* p = static_cast<const float*>(w.data) + i;
        return n == kLanes ? loadu(p) : load_first(p, n);
      }
    }
  }
};

template <DType kType>
inline void full_block(const float* x, const WeightView& w, int64_t r0, int64_t n, int64_t c0,
                       float* y) {
  F acc[kCols];
  DSX_UNROLL for (int j = 0; j < kCols; ++j) acc[j] = zero();
  const int64_t scale_cols = kType == DType::F8_E4M3 ? (w.cols + w.block - 1) / w.block : 0;
  for (int64_t i = 0; i < n; ++i) {
    const F xi = set1(x[i]);
    const int64_t base = (r0 + i) * w.cols + c0;
    if constexpr (kType == DType::F8_E4M3) {
      const float* srow = w.block_scale + ((r0 + i) / w.block) * scale_cols;
      const auto* p = static_cast<const uint8_t*>(w.data) + base;
      DSX_UNROLL for (int j = 0; j < kCols; j += 2) {
        F lo, hi;
        load_fp8x2(p + j * kLanes, &lo, &hi);
        lo = mul(lo, set1(srow[(c0 + j * kLanes) / w.block] * 256.0f));
        hi = mul(hi, set1(srow[(c0 + (j + 1) * kLanes) / w.block] * 256.0f));
        acc[j] = fmadd(xi, lo, acc[j]);
        acc[j + 1] = fmadd(xi, hi, acc[j + 1]);
      }
    } else if constexpr (kType == DType::BF16) {
      const auto* p = static_cast<const uint16_t*>(w.data) + base;
      DSX_UNROLL for (int j = 0; j < kCols; ++j) acc[j] =
          fmadd(xi, load_bf16(p + j * kLanes), acc[j]);
    } else if constexpr (kType == DType::F16) {
      const auto* p = static_cast<const uint16_t*>(w.data) + base;
      DSX_UNROLL for (int j = 0; j < kCols; ++j) acc[j] =
          fmadd(xi, load_f16(p + j * kLanes), acc[j]);
    } else {
      const auto* p = static_cast<const float*>(w.data) + base;
      DSX_UNROLL for (int j = 0; j < kCols; ++j) acc[j] = fmadd(xi, loadu(p + j * kLanes), acc[j]);
    }
  }
  DSX_UNROLL for (int j = 0; j < kCols; ++j) storeu(y + c0 + j * kLanes, acc[j]);
}

// The last, partial block of columns: the same chains, one vector at a time.
inline void partial_block(const float* x, const WeightView& w, int64_t r0, int64_t n, int64_t c0,
                          float* y) {
  F acc[kCols];
  for (int j = 0; j < kCols; ++j) acc[j] = zero();
  const int64_t scale_cols = (w.cols + w.block - 1) / w.block;
  for (int64_t i = 0; i < n; ++i) {
    const F xi = set1(x[i]);
    const float* srow =
        w.type == DType::F8_E4M3 ? w.block_scale + ((r0 + i) / w.block) * scale_cols : nullptr;
    const Loader load{w, srow};
    for (int j = 0; j < kCols && c0 + j * kLanes < w.cols; ++j) {
      const int64_t c = c0 + j * kLanes;
      const int m = static_cast<int>(std::min<int64_t>(kLanes, w.cols - c));
      acc[j] = fmadd(xi, load(r0 + i, c, m), acc[j]);
    }
  }
  for (int j = 0; j < kCols && c0 + j * kLanes < w.cols; ++j) {
    const int64_t c = c0 + j * kLanes;
    store_first(y + c, acc[j], static_cast<int>(std::min<int64_t>(kLanes, w.cols - c)));
  }
}

template <DType kType>
inline void run(const float* x, const WeightView& w, int64_t r0, int64_t n, float* y) {
  int64_t c0 = 0;
  for (; c0 + kCols * kLanes <= w.cols; c0 += kCols * kLanes) full_block<kType>(x, w, r0, n, c0, y);
  if (c0 < w.cols) partial_block(x, w, r0, n, c0, y);
}

}  // namespace mvt

// Requires (checked by the caller) F32/BF16/F16, or F8_E4M3 with block % kLanes == 0.
void matvec_transposed_rows(const float* x, const WeightView& w, int64_t r0, int64_t n, float* y) {
  switch (w.type) {
    case DType::BF16:
      return mvt::run<DType::BF16>(x, w, r0, n, y);
    case DType::F16:
      return mvt::run<DType::F16>(x, w, r0, n, y);
    case DType::F8_E4M3:
      return mvt::run<DType::F8_E4M3>(x, w, r0, n, y);
    default:
      return mvt::run<DType::F32>(x, w, r0, n, y);
  }
}

#endif
