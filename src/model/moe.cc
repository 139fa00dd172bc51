// DeepSeekMoE: a router picks experts_per_tok of n_routed_experts per token; only those experts
// run, each over the tokens routed to it; shared experts run on every token.
#include <algorithm>
#include <cmath>

#include "model/internal.h"

namespace dsx::detail {

namespace {

// A scratch array on the stack for the usual sizes (experts, groups), on the heap past that.
template <typename T>
class Scratch {
 public:
  explicit Scratch(int64_t n) {
    if (n > kInline) heap_.resize(static_cast<size_t>(n));
    data_ = n > kInline ? heap_.data() : inline_;
  }
  T* data() { return data_; }
  T& operator[](int64_t i) { return data_[i]; }

 private:
  static constexpr int64_t kInline = 1024;
  T inline_[kInline];
  std::vector<T> heap_;
  T* data_;
};

// Indices of the k largest values (ties: the lower index first), in descending order.
void top_k(const float* values, int64_t n, int64_t k, int32_t* out) {
  Scratch<int32_t> order(n);
  int32_t* idx = order.data();
  for (int64_t i = 0; i < n; ++i) idx[i] = static_cast<int32_t>(i);
  std::partial_sort(idx, idx + k, idx + n, [&](int32_t a, int32_t b) {
    return values[a] > values[b] || (values[a] == values[b] && a < b);
  });
  for (int64_t i = 0; i < k; ++i) out[i] = idx[i];
}

}  // namespace

void route_token(const ModelConfig& c, const MoeWeights& w, float* logits, int32_t* ids,
                 float* weights) {
  const int64_t experts = c.n_routed_experts, k = c.num_experts_per_tok;
  // scores: the routing probabilities the chosen experts are weighted by.
  float* scores = logits;
  if (c.scoring_func == ScoringFunc::Softmax) {
    kernels::softmax(scores, experts);
  } else {
    for (int64_t e = 0; e < experts; ++e) scores[e] = 1.0f / (1.0f + std::exp(-scores[e]));
  }
  // choice: what selection ranks by — the scores plus the aux-loss-free bias under noaux_tc.
  Scratch<float> choice(experts);
  float* ch = choice.data();
  for (int64_t e = 0; e < experts; ++e) ch[e] = scores[e] + (w.bias.empty() ? 0.0f : w.bias[e]);

  if (c.topk_method != TopkMethod::Greedy && c.n_group > 1) {
    // Keep the topk_group best groups; V2 scores a group by its best expert, V3 by the sum of
    // its two best biased scores.
    const int64_t per_group = experts / c.n_group;
    Scratch<float> group_score(c.n_group);
    float* gs = group_score.data();
    for (int64_t g = 0; g < c.n_group; ++g) {
      const float* v = ch + g * per_group;
      if (c.topk_method == TopkMethod::GroupLimitedGreedy) {
        gs[g] = *std::max_element(v, v + per_group);
      } else {
        int32_t best[2];
        top_k(v, per_group, 2, best);
        gs[g] = v[best[0]] + v[best[1]];
      }
    }
    Scratch<int32_t> kept(c.topk_group);
    int32_t* kp = kept.data();
    top_k(gs, c.n_group, c.topk_group, kp);
    // Experts outside the kept groups can never be chosen.
    for (int64_t g = 0; g < c.n_group; ++g) {
      if (std::find(kp, kp + c.topk_group, g) == kp + c.topk_group) {
        for (int64_t e = g * per_group; e < (g + 1) * per_group; ++e) ch[e] = -INFINITY;
      }
    }
  }
  top_k(ch, experts, k, ids);

  // Weights come from the unbiased scores.
  float sum = 0.0f;
  for (int64_t i = 0; i < k; ++i) {
    weights[i] = scores[ids[i]];
    sum += weights[i];
  }
  if (c.norm_topk_prob && k > 1) {
    const float denom = sum + 1e-20f;
    for (int64_t i = 0; i < k; ++i) weights[i] /= denom;
    // DeepSeek-V2's code scales only unnormalised weights; V3's scales both.
    if (c.model_type == "deepseek_v3") {
      for (int64_t i = 0; i < k; ++i) weights[i] *= static_cast<float>(c.routed_scaling_factor);
    }
  } else {
    for (int64_t i = 0; i < k; ++i) weights[i] *= static_cast<float>(c.routed_scaling_factor);
  }
}

void mlp(const MlpWeights& w, const float* x, int64_t n, float* out, Workspace& ws, ThreadPool& pool) {
  const int64_t inter = w.gate.rows, hidden = w.gate.cols;
  float* gate = grow(ws.gate, n * inter);
  float* up = grow(ws.up, n * inter);
  kernels::matmul(x, hidden, n, w.gate, gate, inter, &pool);
  kernels::matmul(x, hidden, n, w.up, up, inter, &pool);
  kernels::silu_mul(gate, up, n * inter, gate);
  kernels::matmul(gate, inter, n, w.down, out, hidden, &pool);
}

void moe(const ModelConfig& c, const MoeWeights& w, int64_t n, Workspace& ws, ThreadPool& pool) {
  const int64_t hidden = c.hidden_size, experts = c.n_routed_experts, k = c.num_experts_per_tok;
  float* router = grow(ws.router, n * experts);
  kernels::matmul(ws.h.data(), hidden, n, w.router, router, experts, &pool);
  int32_t* ids = grow(ws.topk_ids, n * k);
  float* weights = grow(ws.topk_weights, n * k);
  for (int64_t t = 0; t < n; ++t)
    route_token(c, w, router + t * experts, ids + t * k, weights + t * k);

  // Routed experts, one at a time over the tokens that chose it. Experts are visited in id order,
  // so each token's sum runs in the same order whatever else is in the batch.
  float* out = grow(ws.mlp_out, n * hidden);
  std::fill(out, out + n * hidden, 0.0f);
  std::vector<int32_t>& tokens = ws.expert_tokens;  // rows routed to the current expert
  std::vector<float>& token_weights = ws.expert_weights;
  for (int64_t e = 0; e < experts; ++e) {
    tokens.clear();
    token_weights.clear();
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t i = 0; i < k; ++i) {
        if (ids[t * k + i] == e) {
          tokens.push_back(static_cast<int32_t>(t));
          token_weights.push_back(weights[t * k + i]);
        }
      }
    }
    if (tokens.empty()) continue;
    const int64_t m = static_cast<int64_t>(tokens.size());
    float* xe = grow(ws.expert_x, m * hidden);
    for (int64_t j = 0; j < m; ++j)
      std::copy_n(ws.h.data() + tokens[j] * hidden, hidden, xe + j * hidden);
    float* ye = grow(ws.expert_y, m * hidden);
    mlp(w.experts[e], xe, m, ye, ws, pool);
    for (int64_t j = 0; j < m; ++j)
      kernels::axpy(token_weights[j], ye + j * hidden, out + tokens[j] * hidden, hidden);
  }
  if (w.shared) {
    float* ys = grow(ws.expert_y, n * hidden);
    mlp(*w.shared, ws.h.data(), n, ys, ws, pool);
    for (int64_t i = 0; i < n * hidden; ++i) out[i] += ys[i];
  }
}

}  // namespace dsx::detail
