// SIMD kernels for x86 CPUs, compiled with per-function target attributes so one binary runs on
// any x86-64 and uses AVX2 or AVX-512 where present. Internal to kernels/; use ops.h.
#pragma once

#include "kernels/ops.h"

namespace dsx::kernels::cpu {

// matmul over a band of rows (w.rows is the band height; y points at the band's first column).
// Falls back to the reference for types or backends without a SIMD path.
void matmul_rows(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, float* y,
                 int64_t ldy, Backend backend);

// The same kernels per instruction set (defined in matmul_*.cc, dot.cc, axpy.cc, attention.cc,
// exp_kernels.cc). matmul_*: y[t][i] = x[t] . w[r0 + i] for i < n, t < tokens; any r0 (on a group
// boundary if w.interleaved; fp8 looks the scale row up per row). They require w.block % kLanes ==
// 0 and w.block <= 128 for fp8 (supports_fp8_block); the caller falls back to the reference
// otherwise.
#define DSX_DECLARE_CPU_KERNELS                                                                  \
  void matmul_f32(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, int64_t r0,  \
                  int64_t n, float* y, int64_t ldy);                                             \
  void matmul_bf16(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, int64_t r0, \
                   int64_t n, float* y, int64_t ldy);                                            \
  void matmul_f16(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, int64_t r0,  \
                  int64_t n, float* y, int64_t ldy);                                             \
  void matmul_fp8(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, int64_t r0,  \
                  int64_t n, float* y, int64_t ldy);                                             \
  bool supports_fp8_block(int64_t block);                                                        \
  float dot(const float* a, const float* b, int64_t n);                                          \
  void axpy(float a, const float* x, float* y, int64_t n);                                       \
  void attention_scores(const float* qt, int64_t tokens, int64_t padded, int64_t dim,            \
                        const float* keys, int64_t key_stride, int64_t nkeys, float* s,          \
                        int64_t ldt, const float* next_keys);                                    \
  void attention_values(const float* p, int64_t ldt, int64_t padded, int64_t tokens,             \
                        int64_t heads, const float* const* keys, int64_t nkeys, int64_t dim,     \
                        float* o);                                                               \
  void attention_softmax(float* s, int64_t n, int64_t valid, int64_t padded, float scale,        \
                         float* m, float* l);                                                    \
  void attention_softmax_causal(float* s, int64_t n, int64_t first, int64_t padded, float scale, \
                                float* l);                                                       \
  void silu_mul(const float* gate, const float* up, int64_t n, float* out);

namespace avx512 {
DSX_DECLARE_CPU_KERNELS
}  // namespace avx512
namespace avx2 {
DSX_DECLARE_CPU_KERNELS
}  // namespace avx2

namespace amx {
// matmul of a band of rows on AMX tiles (matmul_amx.cc): y[t][r] = x[t] . w[r] for r < w.rows,
// t < tokens. Requires amx_usable() and amx_supports(w).
void matmul(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, float* y,
            int64_t ldy);
}  // namespace amx
#undef DSX_DECLARE_CPU_KERNELS

}  // namespace dsx::kernels::cpu
