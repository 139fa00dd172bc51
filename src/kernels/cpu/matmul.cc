#include "kernels/cpu/cpu_kernels.h"

namespace dsx::kernels::cpu {

void matmul_rows(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, float* y,
                 int64_t ldy, Backend backend) {
  // TODO(simd): AVX2 / AVX-512 paths. Until then every backend runs the reference.
  matmul_reference(x, ldx, tokens, w, y, ldy);
}

}  // namespace dsx::kernels::cpu
