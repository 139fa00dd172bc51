// Entry points: choose an implementation once per call from the CPU's features.
#include <cpuid.h>

#include <algorithm>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/ops.h"

namespace dsx::kernels {

Backend best_backend() {
  static const Backend best = [] {
    __builtin_cpu_init();
    // The same features the kernels are compiled for (kernels/cpu/simd.h).
    // F16C (CPUID.1:ECX bit 29) through cpuid: not every compiler's __builtin_cpu_supports
    // knows it. Every AVX2 CPU made has it; the OS support for its YMM state comes with AVX2's.
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) != 0;
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
    if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
      return Backend::Avx512;
    }
    if (avx2) return Backend::Avx2;
    return Backend::Reference;
  }();
  return best;
}

const char* backend_name(Backend b) {
  switch (b) {
    case Backend::Avx512:
      return "avx512";
    case Backend::Avx2:
      return "avx2";
    default:
      return "reference";
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
  pool->parallel_for(
      groups, [&](int64_t g0, int64_t g1) { run_rows(g0 * group, std::min(w.rows, g1 * group)); });
}

float dot(const float* a, const float* b, int64_t n) {
  return dot(a, b, n, best_backend());
}

void axpy(float a, const float* x, float* y, int64_t n) {
  axpy(a, x, y, n, best_backend());
}

float dot(const float* a, const float* b, int64_t n, Backend backend) {
  if (n <= 0) return 0.0f;
  switch (backend) {
    case Backend::Avx512:
      return cpu::avx512::dot(a, b, n);
    case Backend::Avx2:
      return cpu::avx2::dot(a, b, n);
    default:
      return dot_reference(a, b, n);
  }
}

void axpy(float a, const float* x, float* y, int64_t n, Backend backend) {
  if (n <= 0) return;
  switch (backend) {
    case Backend::Avx512:
      return cpu::avx512::axpy(a, x, y, n);
    case Backend::Avx2:
      return cpu::avx2::axpy(a, x, y, n);
    default:
      return axpy_reference(a, x, y, n);
  }
}

void attention_scores(const float* qt, int64_t tokens, int64_t padded, int64_t dim,
                      const float* keys, int64_t key_stride, int64_t nkeys, float* s, int64_t ldt,
                      Backend backend) {
  if (tokens <= 0 || nkeys <= 0) return;
  switch (backend) {
    case Backend::Avx512:
      return cpu::avx512::attention_scores(qt, tokens, padded, dim, keys, key_stride, nkeys, s,
                                           ldt);
    case Backend::Avx2:
      return cpu::avx2::attention_scores(qt, tokens, padded, dim, keys, key_stride, nkeys, s, ldt);
    default:
      return attention_scores_reference(qt, tokens, padded, dim, keys, key_stride, nkeys, s, ldt);
  }
}

void attention_values(const float* p, int64_t ldt, int64_t padded, int64_t tokens, int64_t heads,
                      const float* keys, int64_t key_stride, int64_t nkeys, int64_t dim, float* o,
                      Backend backend) {
  if (tokens <= 0 || nkeys <= 0 || heads <= 0) return;
  switch (backend) {
    case Backend::Avx512:
      return cpu::avx512::attention_values(p, ldt, padded, tokens, heads, keys, key_stride, nkeys,
                                           dim, o);
    case Backend::Avx2:
      return cpu::avx2::attention_values(p, ldt, padded, tokens, heads, keys, key_stride, nkeys,
                                         dim, o);
    default:
      return attention_values_reference(p, ldt, padded, tokens, heads, keys, key_stride, nkeys, dim,
                                        o);
  }
}

void matvec_transposed_rows(const float* x, const WeightView& w, int64_t r0, int64_t n, float* y,
                            Backend backend) {
  // fp8 needs whole vectors inside one scale block; otherwise (and for other types) the reference.
  const bool types_ok =
      w.type == DType::F32 || w.type == DType::BF16 || w.type == DType::F16 ||
      (w.type == DType::F8_E4M3 && w.block_scale && w.block > 0 && w.block % 16 == 0);
  if (w.cols <= 0) return;
  if (backend == Backend::Avx512 && types_ok)
    return cpu::avx512::matvec_transposed_rows(x, w, r0, n, y);
  if (backend == Backend::Avx2 && types_ok)
    return cpu::avx2::matvec_transposed_rows(x, w, r0, n, y);
  matvec_transposed_rows(x, w, r0, n, y);
}

void matvec_rows(const float* x, const WeightView& w, int64_t r0, int64_t n, float* y,
                 Backend backend) {
  cpu::matvec_rows(x, w, r0, n, y, backend);
}

}  // namespace dsx::kernels
