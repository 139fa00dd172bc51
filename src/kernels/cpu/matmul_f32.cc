// matmul with float32 weights (the packed GEMM buffer is a plain copy).
// The kernels are the shared text in matmul_tiling.h, compiled once per instruction set.
#include <algorithm>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd.h"

DSX_BEGIN_AVX512
namespace dsx::kernels::cpu::avx512 {
#include "kernels/cpu/matmul_tiling.h"

void matmul_f32(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, int64_t r0,
                int64_t n, float* y, int64_t ldy) {
  matmul_any<F32Weights>(x, ldx, tokens, w, r0, n, y, ldy);
}

}  // namespace dsx::kernels::cpu::avx512
DSX_END_TARGET

DSX_BEGIN_AVX2
namespace dsx::kernels::cpu::avx2 {
#include "kernels/cpu/matmul_tiling.h"

void matmul_f32(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, int64_t r0,
                int64_t n, float* y, int64_t ldy) {
  matmul_any<F32Weights>(x, ldx, tokens, w, r0, n, y, ldy);
}

}  // namespace dsx::kernels::cpu::avx2
DSX_END_TARGET
