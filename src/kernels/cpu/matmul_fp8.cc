// matmul with fp8 e4m3 weights and float32 block scales [ceil(rows/block), ceil(cols/block)].
// Weights decode in registers to q * 2^-8 through f16 (simd.h); the block scale (times 256)
// multiplies the activations instead, once per 128 rows, so the inner loops are the same FMA
// chains as bf16 with no multiply per weight: fp8 GEMV is limited by decode, not memory, on wide
// machines, and every instruction saved there shows. The kernels are the shared text in
// matmul_tiling.h, compiled once per instruction set.
#include <algorithm>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd.h"

DSX_BEGIN_AVX512
namespace dsx::kernels::cpu::avx512 {
#include "kernels/cpu/matmul_tiling.h"

bool supports_fp8_block(int64_t block) {
  return block > 0 && block % kLanes == 0;
}

void matmul_fp8(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, int64_t r0,
                int64_t n, float* y, int64_t ldy) {
  matmul_any<Fp8Weights>(x, ldx, tokens, w, r0, n, y, ldy);
}

}  // namespace dsx::kernels::cpu::avx512
DSX_END_TARGET

DSX_BEGIN_AVX2
namespace dsx::kernels::cpu::avx2 {
#include "kernels/cpu/matmul_tiling.h"

bool supports_fp8_block(int64_t block) {
  return block > 0 && block % kLanes == 0;
}

void matmul_fp8(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, int64_t r0,
                int64_t n, float* y, int64_t ldy) {
  matmul_any<Fp8Weights>(x, ldx, tokens, w, r0, n, y, ldy);
}

}  // namespace dsx::kernels::cpu::avx2
DSX_END_TARGET
