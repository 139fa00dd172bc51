// dot(a, b, n) = sum_i a[i] * b[i], float32.
// Order (a function of n only): four vector accumulators take chunks k = 0, 1, 2, 3 (mod 4) of
// kLanes elements; the partial last chunk is zero-padded and goes to accumulator (k mod 4); then
// (acc0 + acc1) + (acc2 + acc3) and the fixed horizontal tree of simd.h.
//
// The body below is compiled once per instruction set: this file includes itself inside each
// target region (the same scheme as matmul_tiling.h, kept in one file for a small kernel).
#ifndef DSX_CPU_KERNEL_BODY
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd.h"

#define DSX_CPU_KERNEL_BODY
DSX_BEGIN_AVX512
namespace dsx::kernels::cpu::avx512 {
#include "kernels/cpu/dot.cc"  // NOLINT(build/include): the body, see above
}  // namespace dsx::kernels::cpu::avx512
DSX_END_TARGET
DSX_BEGIN_AVX2
namespace dsx::kernels::cpu::avx2 {
#include "kernels/cpu/dot.cc"  // NOLINT(build/include)
}  // namespace dsx::kernels::cpu::avx2
DSX_END_TARGET
#undef DSX_CPU_KERNEL_BODY

#else  // the body

float dot(const float* a, const float* b, int64_t n) {
  F acc[4] = {zero(), zero(), zero(), zero()};
  const int64_t full = n / kLanes;
  int64_t k = 0;
  for (; k + 4 <= full; k += 4) {
    DSX_UNROLL for (int j = 0; j < 4; ++j) {
      acc[j] = fmadd(loadu(a + (k + j) * kLanes), loadu(b + (k + j) * kLanes), acc[j]);
    }
  }
  for (; k < full; ++k)
    acc[k % 4] = fmadd(loadu(a + k * kLanes), loadu(b + k * kLanes), acc[k % 4]);
  if (const int tail = static_cast<int>(n % kLanes)) {
    acc[k % 4] =
        fmadd(load_first(a + k * kLanes, tail), load_first(b + k * kLanes, tail), acc[k % 4]);
  }
  return hsum(add(add(acc[0], acc[1]), add(acc[2], acc[3])));
}

#endif
