// Multi-head latent attention over the latent cache, in the absorbed form for every token:
//   q_latent[h] = W_UK[h]^T q_nope[h]                      (kv_lora_rank)
//   score_j     = (q_latent[h] . c_kv[j] + q_pe[h] . k_pe[j]) * softmax_scale
//   o_latent[h] = sum_j softmax(score)_j c_kv[j]           (kv_lora_rank)
//   out[h]      = W_UV[h] o_latent[h]                      (v_head_dim)
// This never expands per-head keys or values, and each token's result depends only on its own
// query and its sequence's cache, so it does not depend on how a prompt is chunked or batched.
#include <cmath>

#include "model/internal.h"

namespace dsx::detail {

void mla_attention(const ModelConfig& c, const Rope& rope, const MlaWeights& w, int64_t cache_layer,
                   const ForwardBatch& batch, LatentCache& cache, Workspace& ws, ThreadPool& pool) {
  const int64_t n = static_cast<int64_t>(batch.tokens.size());
  const int64_t hidden = c.hidden_size, heads = c.num_attention_heads;
  const int64_t nope = c.qk_nope_head_dim, rope_dim = c.qk_rope_head_dim, vdim = c.v_head_dim;
  const int64_t qk = c.qk_head_dim(), kv_lora = c.kv_lora_rank, kv_a_dim = kv_lora + rope_dim;

  // Queries [n, heads * qk] (optionally through the low-rank q_a -> norm -> q_b path) and the
  // compressed keys/values [n, kv_lora + rope], both from ws.h in one pass of the pool.
  float* q = grow(ws.q, n * heads * qk);
  float* kv_a = grow(ws.kv_a, n * kv_a_dim);
  std::vector<kernels::MatmulJob>& jobs = ws.jobs;
  jobs.clear();
  if (c.q_lora_rank > 0) {
    float* q_a = grow(ws.q_a, n * c.q_lora_rank);
    jobs.push_back({ws.h.data(), hidden, n, w.q_a, q_a, c.q_lora_rank});
    jobs.push_back({ws.h.data(), hidden, n, w.kv_a, kv_a, kv_a_dim});
    kernels::matmul_many(jobs, &pool);
    rmsnorm_rows(q_a, n, c.q_lora_rank, w.q_a_norm, c.rms_norm_eps, q_a, pool);
    kernels::matmul(q_a, c.q_lora_rank, n, w.q_b, q, heads * qk, &pool);
  } else {
    jobs.push_back({ws.h.data(), hidden, n, w.q, q, heads * qk});
    jobs.push_back({ws.h.data(), hidden, n, w.kv_a, kv_a, kv_a_dim});
    kernels::matmul_many(jobs, &pool);
  }

  // Normalise the latent, rope the shared key, and store both in the cache at each token's
  // (seq, pos).
  pool.parallel_for(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* row = kv_a + t * kv_a_dim;
      float* entry = cache.entry(cache_layer, batch.seqs[t], batch.positions[t]);
      kernels::rmsnorm(row, w.kv_a_norm, static_cast<float>(c.rms_norm_eps), kv_lora, entry);
      for (int64_t i = 0; i < rope_dim; ++i) entry[kv_lora + i] = row[kv_lora + i];
      rope.apply(entry + kv_lora, batch.positions[t]);
    }
  });

  // Rope the queries' rope part and move it to the absorbed queries:
  // q_latent[t, h] = [W_UK[h]^T q_nope[t, h] | rope(q_pe[t, h])].
  float* q_latent = grow(ws.q_latent, n * heads * kv_a_dim);  // [n, heads, kv_lora + rope]
  float* o_latent = grow(ws.o_latent, n * heads * kv_lora);   // [n, heads, kv_lora]
  float* attn = grow(ws.attn, n * heads * vdim);              // [n, heads, v]
  pool.parallel_for(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* q_pe = q_latent + t * heads * kv_a_dim + kv_lora;  // head 0's; heads kv_a_dim apart
      for (int64_t h = 0; h < heads; ++h)
        std::copy_n(q + (t * heads + h) * qk + nope, rope_dim, q_pe + h * kv_a_dim);
      rope.apply(q_pe, batch.positions[t], heads, kv_a_dim);
    }
  });
  // Absorb W_UK into the queries: per head, a matmul over all tokens with the transposed copy.
  jobs.clear();
  for (int64_t head = 0; head < heads; ++head)
    jobs.push_back(
        {q + head * qk, heads * qk, n, w.uk_t[head], q_latent + head * kv_a_dim, heads * kv_a_dim});
  kernels::matmul_many(jobs, &pool);
  latent_attention(c, batch, q_latent, cache, cache_layer, ws, pool, o_latent);
  // Back out of latent space: attn[t, h] = W_UV[h] o_latent[t, h], per head.
  jobs.clear();
  for (int64_t head = 0; head < heads; ++head)
    jobs.push_back({o_latent + head * kv_lora, heads * kv_lora, n, w.uv[head], attn + head * vdim,
                    heads * vdim});
  kernels::matmul_many(jobs, &pool);

  kernels::matmul(attn, heads * vdim, n, w.o, grow(ws.mlp_out, n * hidden), hidden, &pool);
}

}  // namespace dsx::detail
