// Entry points: choose an implementation once per call from the CPU's features.
#include <algorithm>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/ops.h"

namespace dsx::kernels {

Backend best_backend() {
  static const Backend best = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) return Backend::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Backend::Avx2;
    return Backend::Reference;
  }();
  return best;
}

const char* backend_name(Backend b) {
  switch (b) {
    case Backend::Avx512: return "avx512";
    case Backend::Avx2: return "avx2";
    default: return "reference";
  }
}

void matmul(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, float* y, int64_t ldy,
            ThreadPool* pool, Backend backend) {
  // Split the output rows across threads; every (t, r) is computed whole by one thread.
  auto run_rows = [&](int64_t r0, int64_t r1) {
    WeightView band = w;
    band.rows = r1 - r0;
    band.data = static_cast<const char*>(w.data) + r0 * w.cols * dtype_size(w.type);
    if (w.type == DType::F8_E4M3) {
      // Bands start on a block boundary (see below), so the band's scales are a contiguous slice.
      band.block_scale = w.block_scale + (r0 / w.block) * ((w.cols + w.block - 1) / w.block);
    }
    cpu::matmul_rows(x, ldx, tokens, band, y + r0, ldy, backend);
  };
  // Rows are handed out in groups (a whole scale block for fp8) so SIMD kernels can tile them.
  const int64_t group = w.type == DType::F8_E4M3 ? w.block : 16;
  const int64_t groups = (w.rows + group - 1) / group;
  if (!pool || pool->size() == 1 || groups == 1) {
    run_rows(0, w.rows);
    return;
  }
  pool->parallel_for(groups, [&](int64_t g0, int64_t g1) {
    run_rows(g0 * group, std::min(w.rows, g1 * group));
  });
}

}  // namespace dsx::kernels
