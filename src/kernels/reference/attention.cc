// Scalar references of the latent attention building blocks (ops.h). Each output is one FMA
// chain in the documented order, so the SIMD kernels (one chain per lane) match them exactly.
#include <algorithm>
#include <cmath>

#include "kernels/ops.h"

namespace dsx::kernels {

void attention_scores_reference(const float* qt, int64_t tokens, int64_t padded, int64_t dim,
                                const float* keys, int64_t key_stride, int64_t nkeys, float* s,
                                int64_t ldt) {
  for (int64_t t = 0; t < tokens; ++t) {
    const float* q = qt + t * dim * padded;  // [dim, padded]
    for (int64_t j = 0; j < nkeys; ++j) {
      const float* k = keys + j * key_stride;
      float* out = s + t * ldt + j * padded;
      for (int64_t p = 0; p < padded; ++p) {
        float acc = 0.0f;
        for (int64_t d = 0; d < dim; ++d) acc = std::fma(q[d * padded + p], k[d], acc);
        out[p] = acc;
      }
    }
  }
}

void attention_values_reference(const float* p, int64_t ldt, int64_t padded, int64_t tokens,
                                int64_t heads, const float* const* keys, int64_t nkeys, int64_t dim,
                                float* o) {
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      float* out = o + (t * heads + h) * dim;
      for (int64_t c = 0; c < dim; ++c) {
        float acc = 0.0f;
        for (int64_t j = 0; j < nkeys; ++j)
          acc = std::fma(p[t * ldt + j * padded + h], keys[j][c], acc);
        out[c] = acc;
      }
    }
  }
}

namespace {

// One lane of a softmax over keys j < valid of n (the rest become 0); returns the lane's sum and
// sets its max.
float softmax_lane(float* s, int64_t n, int64_t valid, int64_t padded, int64_t p, float scale,
                   float* top_out) {
  float top = -INFINITY, sum = 0.0f;
  for (int64_t j = 0; j < valid; ++j) {
    s[j * padded + p] *= scale;
    top = std::fmax(top, s[j * padded + p]);
  }
  for (int64_t j = 0; j < valid; ++j) {
    float& e = s[j * padded + p];
    e = std::exp(e - top);
    sum += e;
  }
  for (int64_t j = valid; j < n; ++j) s[j * padded + p] = 0.0f;
  *top_out = top;
  return sum;
}

}  // namespace

void attention_softmax_reference(float* s, int64_t n, int64_t valid, int64_t padded, float scale,
                                 float* m, float* l) {
  for (int64_t p = 0; p < padded; ++p) l[p] = softmax_lane(s, n, valid, padded, p, scale, &m[p]);
}

void attention_softmax_causal_reference(float* s, int64_t n, int64_t first, int64_t padded,
                                        float scale, float* l) {
  float top;
  for (int64_t p = 0; p < padded; ++p)
    l[p] = softmax_lane(s, n, std::min(n, first + p), padded, p, scale, &top);
}

}  // namespace dsx::kernels
