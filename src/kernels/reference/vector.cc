// Scalar vector ops (dot; axpy, which sums expert outputs). SIMD versions, where
// present, are chosen in kernels/cpu; these are the ground truth.
#include "kernels/ops.h"

namespace dsx::kernels {

float dot_reference(const float* a, const float* b, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void axpy_reference(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

}  // namespace dsx::kernels
