// matmul entry per row band: picks the kernel for the weight type and instruction set.
#include "kernels/cpu/cpu_kernels.h"

namespace dsx::kernels::cpu {

namespace {

using MatmulFn = void (*)(const float* x, int64_t ldx, int64_t tokens, const WeightView& w,
                          int64_t r0, int64_t n, float* y, int64_t ldy);

// nullptr: no SIMD kernel for this combination, use the reference.
MatmulFn pick(const WeightView& w, Backend backend) {
  switch (backend) {
    case Backend::Amx:
    case Backend::Avx512:
      switch (w.type) {
        case DType::F32:
          return avx512::matmul_f32;
        case DType::BF16:
          return avx512::matmul_bf16;
        case DType::F16:
          return avx512::matmul_f16;
        case DType::F8_E4M3:
          return w.block_scale && avx512::supports_fp8_block(w.block) ? avx512::matmul_fp8
                                                                      : nullptr;
        default:
          return nullptr;
      }
    case Backend::Avx2:
      switch (w.type) {
        case DType::F32:
          return avx2::matmul_f32;
        case DType::BF16:
          return avx2::matmul_bf16;
        case DType::F16:
          return avx2::matmul_f16;
        case DType::F8_E4M3:
          return w.block_scale && avx2::supports_fp8_block(w.block) ? avx2::matmul_fp8 : nullptr;
        default:
          return nullptr;
      }
    default:
      return nullptr;
  }
}

}  // namespace

void matmul_rows(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, float* y,
                 int64_t ldy, Backend backend) {
  if (tokens <= 0 || w.rows <= 0) return;
  // Only AMX reads the tile layout (and it exists only where AMX is usable).
  if (backend != Backend::Reference && (backend == Backend::Amx || w.tiled) && amx_supports(w))
    return amx::matmul(x, ldx, tokens, w, y, ldy);
  if (w.tiled) return matmul_reference(x, ldx, tokens, w, y, ldy);
  if (MatmulFn fn = pick(w, backend)) {
    fn(x, ldx, tokens, w, 0, w.rows, y, ldy);
  } else {
    matmul_reference(x, ldx, tokens, w, y, ldy);
  }
}

}  // namespace dsx::kernels::cpu
