// Scalar reference kernels: the numerical ground truth that SIMD kernels are tested against.
#include <cmath>

#include "kernels/ops.h"

namespace dsx::kernels {

float WeightView::at(int64_t r, int64_t c) const {
  int64_t i = r * cols + c;
  if (interleaved && r < rows / kInterleaveRows * kInterleaveRows) {
    const int64_t piece = kInterleaveBytes / static_cast<int64_t>(dtype_size(type));
    const int64_t group = r / kInterleaveRows * kInterleaveRows * cols;
    i = group + (c / piece * kInterleaveRows + r % kInterleaveRows) * piece + c % piece;
  }
  if (tiled && r < rows / kTileGroupRows * kTileGroupRows) {
    const int64_t group = r / kTileGroupRows * kTileGroupRows * cols;
    i = group + (c / kTileCols * kTileGroupRows + r % kTileGroupRows) * kTileCols + c % kTileCols;
    if (type == DType::F8_E4M3)  // a tile's row pairs byte by byte: [pair][32 columns][2 rows]
      i = group + (c / kTileCols * kTileGroupRows + r % kTileGroupRows / 2 * 2) * kTileCols +
          c % kTileCols * 2 + r % 2;
  }
  switch (type) {
    case DType::F32:
      return static_cast<const float*>(data)[i];
    case DType::BF16:
      return bf16_to_f32(static_cast<const uint16_t*>(data)[i]);
    case DType::F16:
      return f16_to_f32(static_cast<const uint16_t*>(data)[i]);
    case DType::F8_E4M3: {
      const int64_t scale_cols = (cols + block - 1) / block;
      const float scale = block_scale[(r / block) * scale_cols + c / block];
      return fp8_e4m3_to_f32(static_cast<const uint8_t*>(data)[i]) * scale;
    }
    default:
      return 0.0f;
  }
}

void load_row(const WeightView& w, int64_t row, float* out) {
  for (int64_t c = 0; c < w.cols; ++c) out[c] = w.at(row, c);
}

void matmul_reference(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, float* y,
                      int64_t ldy) {
  for (int64_t t = 0; t < tokens; ++t) {
    const float* xt = x + t * ldx;
    for (int64_t r = 0; r < w.rows; ++r) {
      float sum = 0.0f;
      for (int64_t c = 0; c < w.cols; ++c) sum += xt[c] * w.at(r, c);
      y[t * ldy + r] = sum;
    }
  }
}

void rmsnorm(const float* x, const WeightView& weight, float eps, int64_t n, float* out) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float inv = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * inv * weight.at(0, i);
}

void silu_mul_reference(const float* gate, const float* up, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void softmax(float* x, int64_t n) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i) max = std::fmax(max, x[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

}  // namespace dsx::kernels
