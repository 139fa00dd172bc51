// Rotary position embedding with DeepSeek's YaRN frequencies, computed as the reference does
// (float32 inverse frequencies, float32 angles) so positions far into the context still match.
#include <cmath>

#include "model/model.h"

namespace dsx {

namespace {

// The dimension index at which `rotations` full turns fit in the original context.
double correction_dim(double rotations, double dim, double base, double max_pos) {
  return dim * std::log(max_pos / (rotations * 2.0 * M_PI)) / (2.0 * std::log(base));
}

double yarn_mscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

}  // namespace

Rope::Rope(const ModelConfig& c) {
  const int64_t dim = c.qk_rope_head_dim;
  const int64_t half = dim / 2;
  const float base = static_cast<float>(c.rope_theta);
  inv_freq.resize(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    const float pos_freq = std::pow(base, static_cast<float>(2 * i) / static_cast<float>(dim));
    inv_freq[i] = 1.0f / pos_freq;
  }
  if (!c.yarn) return;
  const YarnConfig& y = *c.yarn;
  const double orig = static_cast<double>(y.original_max_position_embeddings);
  double low = std::floor(correction_dim(y.beta_fast, dim, c.rope_theta, orig));
  double high = std::ceil(correction_dim(y.beta_slow, dim, c.rope_theta, orig));
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // avoid a division by zero in the ramp
  const float factor = static_cast<float>(y.factor);
  for (int64_t i = 0; i < half; ++i) {
    const float pos_freq = std::pow(base, static_cast<float>(2 * i) / static_cast<float>(dim));
    const float extrapolation = 1.0f / pos_freq;
    const float interpolation = 1.0f / (factor * pos_freq);
    float ramp = (static_cast<float>(i) - static_cast<float>(low)) / static_cast<float>(high - low);
    ramp = std::min(1.0f, std::max(0.0f, ramp));
    const float keep = 1.0f - ramp;  // share of the original (extrapolated) frequency
    inv_freq[i] = interpolation * (1.0f - keep) + extrapolation * keep;
  }
  attention_factor =
      static_cast<float>(yarn_mscale(y.factor, y.mscale) / yarn_mscale(y.factor, y.mscale_all_dim));
}

void Rope::apply(float* x, int64_t pos, int64_t count, int64_t stride) const {
  const size_t half = inv_freq.size();
  for (size_t i = 0; i < half; ++i) {
    const float angle = static_cast<float>(pos) * inv_freq[i];
    const float cos = static_cast<float>(std::cos(static_cast<double>(angle))) * attention_factor;
    const float sin = static_cast<float>(std::sin(static_cast<double>(angle))) * attention_factor;
    for (int64_t k = 0; k < count; ++k) {
      float* v = x + k * stride;
      const float a = v[2 * i], b = v[2 * i + 1];
      v[2 * i] = a * cos - b * sin;
      v[2 * i + 1] = a * sin + b * cos;
    }
  }
}

}  // namespace dsx
