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

void silu_mul_parallel(float* gate, const float* up, int64_t n, ThreadPool& pool) {
  constexpr int64_t kBlock = 4096;  // elements per task: enough to outweigh the hand-off
  pool.parallel_for((n + kBlock - 1) / kBlock, [&](int64_t b0, int64_t b1) {
    const int64_t i0 = b0 * kBlock, i1 = std::min(n, b1 * kBlock);
    kernels::silu_mul(gate + i0, up + i0, i1 - i0, gate + i0);
  });
}

void mlp(const MlpWeights& w, const float* x, int64_t n, float* out, Workspace& ws,
         ThreadPool& pool) {
  const int64_t inter = w.gate.rows, hidden = w.gate.cols;
  float* gate = grow(ws.gate, n * inter);
  float* up = grow(ws.up, n * inter);
  std::vector<kernels::MatmulJob>& jobs = ws.jobs;
  jobs.clear();
  jobs.push_back({x, hidden, n, w.gate, gate, inter});
  jobs.push_back({x, hidden, n, w.up, up, inter});
  kernels::matmul_many(jobs, &pool);
  silu_mul_parallel(gate, up, n * inter, pool);
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

  // Group the (token, expert) pairs by expert, experts in id order and tokens in batch order:
  // expert e's rows are [first[e], first[e + 1]) of the gathered buffers.
  const int64_t pairs = n * k;
  std::vector<int64_t>& first = ws.expert_first;
  first.assign(static_cast<size_t>(experts) + 1, 0);
  for (int64_t i = 0; i < pairs; ++i) ++first[ids[i] + 1];
  for (int64_t e = 0; e < experts; ++e) first[e + 1] += first[e];
  std::vector<int32_t>& rows = ws.expert_tokens;        // [pairs]: batch row of each gathered row
  std::vector<float>& row_weights = ws.expert_weights;  // [pairs]: its routing weight
  std::vector<int64_t>& slots = ws.expert_slots;        // [n, k]: gathered row of each choice
  rows.resize(static_cast<size_t>(pairs));
  row_weights.resize(static_cast<size_t>(pairs));
  {
    std::vector<int64_t>& fill = ws.expert_fill;
    slots.resize(static_cast<size_t>(pairs));
    fill.assign(first.begin(), first.end() - 1);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t i = 0; i < k; ++i) {
        const int64_t at = fill[ids[t * k + i]]++;
        rows[at] = static_cast<int32_t>(t);
        row_weights[at] = weights[t * k + i];
        slots[t * k + i] = at;
      }
    // A token's gathered rows in ascending order are its experts in id order.
    for (int64_t t = 0; t < n; ++t) std::sort(slots.begin() + t * k, slots.begin() + (t + 1) * k);
  }
  float* xe = grow(ws.expert_x, pairs * hidden);  // [pairs, hidden] gathered inputs
  auto gather = [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j)
      std::copy_n(ws.h.data() + rows[j] * hidden, hidden, xe + j * hidden);
  };
  // A decode step's few rows copy faster than the pool wakes.
  constexpr int64_t kInlineFloats = 64 << 10;
  if (pairs * hidden <= kInlineFloats) {
    gather(0, pairs);
  } else {
    pool.parallel_for(pairs, gather);
  }

  // Every chosen expert's gate and up (and the shared experts') in one pass of the pool, then
  // every down projection in another.
  const int64_t inter = c.moe_intermediate_size;
  const int64_t shared_inter = w.shared ? w.shared->gate.rows : 0;
  const int64_t act = pairs * inter + n * shared_inter;  // routed rows, then the shared rows
  float* gate = grow(ws.gate, act);
  float* up = grow(ws.up, act);
  float* ye = grow(ws.expert_y, (pairs + n) * hidden);  // [pairs + n, hidden]
  std::vector<kernels::MatmulJob>& jobs = ws.jobs;
  jobs.clear();
  for (int64_t e = 0; e < experts; ++e) {
    const int64_t m = first[e + 1] - first[e];
    if (m == 0) continue;
    const MlpWeights& ew = w.experts[e];
    jobs.push_back({xe + first[e] * hidden, hidden, m, ew.gate, gate + first[e] * inter, inter});
    jobs.push_back({xe + first[e] * hidden, hidden, m, ew.up, up + first[e] * inter, inter});
  }
  if (w.shared) {
    float* sg = gate + pairs * inter;
    float* su = up + pairs * inter;
    jobs.push_back({ws.h.data(), hidden, n, w.shared->gate, sg, shared_inter});
    jobs.push_back({ws.h.data(), hidden, n, w.shared->up, su, shared_inter});
  }
  kernels::matmul_many(jobs, &pool);
  silu_mul_parallel(gate, up, act, pool);
  jobs.clear();
  for (int64_t e = 0; e < experts; ++e) {
    const int64_t m = first[e + 1] - first[e];
    if (m == 0) continue;
    jobs.push_back(
        {gate + first[e] * inter, inter, m, w.experts[e].down, ye + first[e] * hidden, hidden});
  }
  if (w.shared) {
    jobs.push_back(
        {gate + pairs * inter, shared_inter, n, w.shared->down, ye + pairs * hidden, hidden});
  }
  kernels::matmul_many(jobs, &pool);

  // Each token's sum runs over its experts in id order, then the shared experts, whatever else is
  // in the batch.
  float* out = grow(ws.mlp_out, n * hidden);
  pool.parallel_for(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* o = out + t * hidden;
      std::fill(o, o + hidden, 0.0f);
      for (int64_t i = 0; i < k; ++i) {
        const int64_t j = slots[t * k + i];
        kernels::axpy(row_weights[j], ye + j * hidden, o, hidden);
      }
      if (w.shared) {
        const float* ys = ye + (pairs + t) * hidden;
        for (int64_t c = 0; c < hidden; ++c) o[c] += ys[c];
      }
    }
  });
}

}  // namespace dsx::detail
