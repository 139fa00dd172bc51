// axpy: y[i] += a * x[i], one fused multiply-add per element (so each y[i] depends only on a,
// x[i] and y[i]; the reference rounds the product and the sum separately).
//
// The body below is compiled once per instruction set: this file includes itself inside each
// target region (the same scheme as matmul_tiling.h, kept in one file for a small kernel).
#ifndef DSX_CPU_KERNEL_BODY
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd.h"

#define DSX_CPU_KERNEL_BODY
DSX_BEGIN_AVX512
namespace dsx::kernels::cpu::avx512 {
#include "kernels/cpu/axpy.cc"  // NOLINT(build/include): the body, see above
}  // namespace dsx::kernels::cpu::avx512
DSX_END_TARGET
DSX_BEGIN_AVX2
namespace dsx::kernels::cpu::avx2 {
#include "kernels/cpu/axpy.cc"  // NOLINT(build/include)
}  // namespace dsx::kernels::cpu::avx2
DSX_END_TARGET
#undef DSX_CPU_KERNEL_BODY

#else  // the body

void axpy(float a, const float* x, float* y, int64_t n) {
  const F av = set1(a);
  int64_t i = 0;
  for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
    storeu(y + i, fmadd(av, loadu(x + i), loadu(y + i)));
    storeu(y + i + kLanes, fmadd(av, loadu(x + i + kLanes), loadu(y + i + kLanes)));
  }
  for (; i + kLanes <= n; i += kLanes) storeu(y + i, fmadd(av, loadu(x + i), loadu(y + i)));
  if (i < n) {
    const int tail = static_cast<int>(n - i);
    store_first(y + i, fmadd(av, load_first(x + i, tail), load_first(y + i, tail)), tail);
  }
}

#endif
