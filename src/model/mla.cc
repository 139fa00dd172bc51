// Multi-head latent attention. Queries and the compressed key/value latent come from the
// layer's input; the latent (normed) and the roped shared key go into the cache; then every row
// attends in one of two forms (see ForwardBatch):
//   absorbed (latent_attention.cc), for decode and short runs: per head
//     q_latent[h] = W_UK[h]^T q_nope[h]                      (kv_lora_rank)
//     score_j     = (q_latent[h] . c_kv[j] + q_pe[h] . k_pe[j]) * softmax_scale
//     o_latent[h] = sum_j softmax(score)_j c_kv[j]           (kv_lora_rank)
//     out[h]      = W_UV[h] o_latent[h]                      (v_head_dim)
//   which never expands per-head keys or values;
//   expanded (expanded_attention.cc), for long runs of prompt rows: keys and values multiplied
//     out of the cache per head, attention in qk_head_dim and v_head_dim.
// In both, a row's result depends only on its own query and its sequence's cache, so it does not
// depend on how the batch around it is composed.
#include <cmath>

#include "model/internal.h"

namespace dsx::detail {

namespace {

// The absorbed form for `rows` (q: [rows, heads * qk] with q_pe roped) into attn ([rows, heads *
// v]).
void absorbed_attention(const ModelConfig& c, const MlaWeights& w, const AttentionRows& rows,
                        const float* q, const LatentCache& cache, int64_t cache_layer,
                        Workspace& ws, ThreadPool& pool, float* attn) {
  const int64_t n = rows.size(), heads = c.num_attention_heads, nope = c.qk_nope_head_dim;
  const int64_t rope_dim = c.qk_rope_head_dim, vdim = c.v_head_dim, qk = c.qk_head_dim();
  const int64_t kv_lora = c.kv_lora_rank, kv_a_dim = kv_lora + rope_dim;
  float* q_latent = grow(ws.q_latent, n * heads * kv_a_dim);  // [n, heads, kv_lora + rope]
  float* o_latent = grow(ws.o_latent, n * heads * kv_lora);   // [n, heads, kv_lora]
  // q_latent[t, h] = [W_UK[h]^T q_nope[t, h] | q_pe[t, h]]: the rope part copied, the rest a
  // matmul per head over all rows with the transposed copy.
  pool.parallel_for(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      for (int64_t h = 0; h < heads; ++h)
        std::copy_n(q + (t * heads + h) * qk + nope, rope_dim,
                    q_latent + (t * heads + h) * kv_a_dim + kv_lora);
  });
  std::vector<kernels::MatmulJob>& jobs = ws.jobs;
  jobs.clear();
  for (int64_t head = 0; head < heads; ++head)
    jobs.push_back(
        {q + head * qk, heads * qk, n, w.uk_t[head], q_latent + head * kv_a_dim, heads * kv_a_dim});
  kernels::matmul_many(jobs, &pool);
  latent_attention(c, rows, q_latent, cache, cache_layer, ws, pool, o_latent);
  // Back out of latent space: attn[t, h] = W_UV[h] o_latent[t, h], per head.
  jobs.clear();
  for (int64_t head = 0; head < heads; ++head)
    jobs.push_back({o_latent + head * kv_lora, heads * kv_lora, n, w.uv[head], attn + head * vdim,
                    heads * vdim});
  kernels::matmul_many(jobs, &pool);
}

// Splits the batch into expanded runs (first row, rows; flattened) and absorbed rows.
void plan_forms(const ModelConfig& c, const ForwardBatch& batch, std::vector<int64_t>& runs,
                std::vector<int32_t>& absorbed) {
  const int64_t n = static_cast<int64_t>(batch.tokens.size());
  auto expandable = [&](int64_t t) {
    return batch.form != AttentionForm::Absorbed &&
           (batch.expandable.empty() || batch.expandable[t] != 0);
  };
  runs.clear();
  absorbed.clear();
  for (int64_t t0 = 0; t0 < n;) {
    int64_t t1 = t0 + 1;
    if (expandable(t0)) {
      while (t1 < n && expandable(t1) && batch.seqs[t1] == batch.seqs[t0] &&
             batch.positions[t1] == batch.positions[t1 - 1] + 1)
        ++t1;
    }
    const bool expand = expandable(t0) && (batch.form == AttentionForm::Expanded ||
                                           expanded_is_cheaper(c, batch.positions[t0], t1 - t0));
    if (expand) {
      runs.push_back(t0);
      runs.push_back(t1 - t0);
    } else {
      for (int64_t t = t0; t < t1; ++t) absorbed.push_back(static_cast<int32_t>(t));
    }
    t0 = t1;
  }
}

}  // namespace

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

  // Rope the queries' rope part in place: q[t, h] = [q_nope | rope(q_pe)].
  pool.parallel_for(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      rope.apply(q + t * heads * qk + nope, batch.positions[t], heads, qk);
  });

  float* attn = grow(ws.attn, n * heads * vdim);  // [n, heads, v]
  plan_forms(c, batch, ws.runs, ws.absorbed_rows);
  for (size_t r = 0; r < ws.runs.size(); r += 2) {
    const int64_t t0 = ws.runs[r], rows = ws.runs[r + 1];
    expanded_attention(c, w, batch.seqs[t0], batch.positions[t0], rows, q + t0 * heads * qk, cache,
                       cache_layer, ws, pool, attn + t0 * heads * vdim);
  }
  const int64_t na = static_cast<int64_t>(ws.absorbed_rows.size());
  if (na == n) {
    absorbed_attention(c, w, {batch.positions, batch.seqs}, q, cache, cache_layer, ws, pool, attn);
  } else if (na > 0) {
    // A batch mixing forms (prompt runs beside decoding rows): the absorbed rows run gathered.
    ws.sub_positions.resize(static_cast<size_t>(na));
    ws.sub_seqs.resize(static_cast<size_t>(na));
    float* sub_q = grow(ws.sub_q, na * heads * qk);
    float* sub_attn = grow(ws.sub_attn, na * heads * vdim);
    for (int64_t i = 0; i < na; ++i) {
      const int32_t t = ws.absorbed_rows[i];
      ws.sub_positions[i] = batch.positions[t];
      ws.sub_seqs[i] = batch.seqs[t];
      std::copy_n(q + t * heads * qk, heads * qk, sub_q + i * heads * qk);
    }
    absorbed_attention(c, w, {ws.sub_positions, ws.sub_seqs}, sub_q, cache, cache_layer, ws, pool,
                       sub_attn);
    for (int64_t i = 0; i < na; ++i)
      std::copy_n(sub_attn + i * heads * vdim, heads * vdim,
                  attn + ws.absorbed_rows[i] * heads * vdim);
  }

  kernels::matmul(attn, heads * vdim, n, w.o, grow(ws.mlp_out, n * hidden), hidden, &pool);
}

}  // namespace dsx::detail

namespace dsx {

bool expanded_is_cheaper(const ModelConfig& c, int64_t first, int64_t rows) {
  if (rows < kMinExpandedRows) return false;
  const double lora = static_cast<double>(c.kv_lora_rank),
               rope = static_cast<double>(c.qk_rope_head_dim);
  const double pair_saving = 2.0 * (lora + rope) + 2.0 * lora -
                             2.0 * static_cast<double>(c.qk_head_dim()) -
                             2.0 * static_cast<double>(c.v_head_dim);
  const double per_key = 2.0 * static_cast<double>(c.qk_nope_head_dim + c.v_head_dim) * lora;
  const double r = static_cast<double>(rows), f = static_cast<double>(first);
  const double pairs = r * f + r * (r + 1.0) / 2.0;  // (row, key) pairs of the run
  return pairs * pair_saving > f * per_key;
}

}  // namespace dsx
