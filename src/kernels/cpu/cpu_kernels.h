// SIMD kernels for x86 CPUs, compiled with per-function target attributes so one binary runs on
// any x86-64 and uses AVX2 or AVX-512 where present. Internal to kernels/; use ops.h.
#pragma once

#include "kernels/ops.h"

namespace dsx::kernels::cpu {

// matmul over a band of rows (w.rows is the band height; y points at the band's first column).
// Falls back to the reference for types or backends without a SIMD path.
void matmul_rows(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, float* y,
                 int64_t ldy, Backend backend);

}  // namespace dsx::kernels::cpu
