// Internal to model/: the building blocks the forward pass calls, one file each.
#pragma once

#include "model/model.h"

namespace dsx::detail {

// Grows v to at least n elements (never shrinks, so steady loops do not allocate).
template <typename T>
T* grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// out[t] = rmsnorm(x[t]) * weight for t < n rows of `dim` values.
void rmsnorm_rows(const float* x, int64_t n, int64_t dim, const WeightView& weight, double eps,
                  float* out, ThreadPool& pool);

// One decoder layer over the batch: x += attn(norm(x)); x += mlp_or_moe(norm(x)).
void decoder_layer(const ModelConfig& c, const Rope& rope, const LayerWeights& w,
                   int64_t cache_layer, const ForwardBatch& batch, LatentCache& cache,
                   Workspace& ws, ThreadPool& pool);

// Multi-head latent attention of the normed input ws.h into ws.mlp_out ([n, hidden]).
void mla_attention(const ModelConfig& c, const Rope& rope, const MlaWeights& w, int64_t cache_layer,
                   const ForwardBatch& batch, LatentCache& cache, Workspace& ws, ThreadPool& pool);

// Cuts tasks [0, n) into one contiguous share per pool thread of about equal total cost(i):
// bounds gets threads + 1 entries, share s being [bounds[s], bounds[s + 1]).
template <class Cost>
void split_by_cost(int64_t n, int threads, Cost&& cost, std::vector<int64_t>& bounds) {
  int64_t total = 0;
  for (int64_t i = 0; i < n; ++i) total += cost(i);
  bounds.assign(static_cast<size_t>(threads) + 1, n);
  bounds[0] = 0;
  for (int64_t i = 0, acc = 0, slot = 1; i < n && slot < threads; ++i) {
    acc += cost(i);
    while (slot < threads && acc * threads >= total * slot) bounds[slot++] = i + 1;
  }
}

// Runs fn(slot, begin, end) for every share of bounds on its own pool thread; slot picks the
// thread's scratch.
template <class Fn>
void run_shares(ThreadPool& pool, const std::vector<int64_t>& bounds, Fn&& fn) {
  pool.parallel_for(static_cast<int64_t>(bounds.size()) - 1, [&](int64_t s0, int64_t s1) {
    for (int64_t slot = s0; slot < s1; ++slot) fn(slot, bounds[slot], bounds[slot + 1]);
  });
}

// The rows attention runs over: each row's position and sequence ([n] each).
struct AttentionRows {
  std::span<const int32_t> positions;
  std::span<const int32_t> seqs;
  int64_t size() const { return static_cast<int64_t>(positions.size()); }
};

// Softmax attention in latent space: o_latent[t, h] ([n, heads, kv_lora]) from the absorbed
// queries q_latent ([n, heads, kv_lora + rope]) over each row's sequence in the cache, positions
// [0, positions[t]] (latent_attention.cc).
void latent_attention(const ModelConfig& c, const AttentionRows& rows, const float* q_latent,
                      const LatentCache& cache, int64_t layer, Workspace& ws, ThreadPool& pool,
                      float* o_latent);

// The expanded form for a run of `rows` rows of sequence `seq` at positions first, first + 1, ...
// whose cache entries are written: q is the run's first row ([rows, heads * qk_head_dim], q_pe
// roped), attn its output ([rows, heads * v_head_dim]) (expanded_attention.cc).
void expanded_attention(const ModelConfig& c, const MlaWeights& w, int32_t seq, int64_t first,
                        int64_t rows, const float* q, const LatentCache& cache, int64_t layer,
                        Workspace& ws, ThreadPool& pool, float* attn);

// gate[i] = silu(gate[i]) * up[i] for i < n, split across the pool (elementwise: same bits).
void silu_mul_parallel(float* gate, const float* up, int64_t n, ThreadPool& pool);

// Dense SwiGLU MLP of ws.h ([n, hidden]) into out ([n, hidden]).
void mlp(const MlpWeights& w, const float* x, int64_t n, float* out, Workspace& ws,
         ThreadPool& pool);

// DeepSeekMoE of ws.h into ws.mlp_out: routed experts (only the chosen ones) + shared experts.
void moe(const ModelConfig& c, const MoeWeights& w, int64_t n, Workspace& ws, ThreadPool& pool);

// Expert choice for one token: writes experts_per_tok ids and weights. scores: [n_routed_experts]
// router logits (overwritten).
void route_token(const ModelConfig& c, const MoeWeights& w, float* logits, int32_t* ids,
                 float* weights);

}  // namespace dsx::detail
