// The forward pass: embeddings -> decoder layers -> final norm -> head, and the MTP module.
#include <algorithm>

#include "model/internal.h"

namespace dsx {

namespace detail {

void rmsnorm_rows(const float* x, int64_t n, int64_t dim, const WeightView& weight, double eps,
                  float* out, ThreadPool& pool) {
  pool.parallel_for(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      kernels::rmsnorm(x + t * dim, weight, static_cast<float>(eps), dim, out + t * dim);
  });
}

void decoder_layer(const ModelConfig& c, const Rope& rope, const LayerWeights& w,
                   int64_t cache_layer, const ForwardBatch& batch, LatentCache& cache,
                   Workspace& ws, ThreadPool& pool) {
  const int64_t n = static_cast<int64_t>(batch.tokens.size()), hidden = c.hidden_size;
  float* x = ws.x.data();
  float* h = grow(ws.h, n * hidden);
  rmsnorm_rows(x, n, hidden, w.input_norm, c.rms_norm_eps, h, pool);
  mla_attention(c, rope, w.attn, cache_layer, batch, cache, ws, pool);
  for (int64_t i = 0; i < n * hidden; ++i) x[i] += ws.mlp_out[i];

  rmsnorm_rows(x, n, hidden, w.post_attn_norm, c.rms_norm_eps, h, pool);
  if (w.moe) {
    moe(c, w.experts, n, ws, pool);
  } else {
    mlp(w.mlp, h, n, grow(ws.mlp_out, n * hidden), ws, pool);
  }
  for (int64_t i = 0; i < n * hidden; ++i) x[i] += ws.mlp_out[i];
}

}  // namespace detail

using detail::grow;

Model::Model(std::string dir, ModelConfig config, SafeTensors st)
    : dir_(std::move(dir)),
      config_(std::move(config)),
      tensors_(std::move(st)),
      weights_(ModelWeights::load(config_, tensors_)),
      rope_(config_) {
  interleave_weights(weights_, tensors_);
  tensors_.seal();
}

std::unique_ptr<Model> Model::load(const std::string& model_dir, LoadMode mode) {
  ModelConfig config = ModelConfig::load(model_dir);
  SafeTensors st = SafeTensors::open_dir(model_dir, mode);
  return std::unique_ptr<Model>(new Model(model_dir, std::move(config), std::move(st)));
}

void Model::check_batch(const ForwardBatch& batch, const LatentCache& cache) const {
  const size_t n = batch.tokens.size();
  if (batch.positions.size() != n || batch.seqs.size() != n)
    throw Error("forward: tokens, positions and seqs differ in length");
  for (size_t i = 0; i < n; ++i) {
    const int32_t id = batch.tokens[i];
    if (id < 0 || id >= config_.vocab_size)
      throw Error("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                  std::to_string(config_.vocab_size) + ")");
    if (!cache.has_sequence(batch.seqs[i]))
      throw Error("forward: unknown sequence " + std::to_string(batch.seqs[i]));
    if (batch.positions[i] < 0 || batch.positions[i] >= cache.capacity(batch.seqs[i]))
      throw Error("forward: position " + std::to_string(batch.positions[i]) +
                  " has no reserved cache entry");
  }
  if (!batch.expandable.empty() && batch.expandable.size() != n)
    throw Error("forward: expandable flags and tokens differ in length");
  for (int32_t r : batch.logit_rows) {
    if (r < 0 || static_cast<size_t>(r) >= n) throw Error("forward: logit row out of range");
  }
}

namespace {

// Picks rows of a [n, hidden] buffer, normalised, then multiplies by a head: logits [rows, vocab].
void head_logits(const float* normed, int64_t hidden, std::span<const int32_t> rows,
                 const WeightView& head, Workspace& ws, std::vector<float>& logits,
                 ThreadPool& pool) {
  const int64_t m = static_cast<int64_t>(rows.size());
  float* picked = grow(ws.normed, m * hidden);
  for (int64_t i = 0; i < m; ++i)
    std::copy_n(normed + rows[i] * hidden, hidden, picked + i * hidden);
  logits.resize(static_cast<size_t>(m * head.rows));
  kernels::matmul(picked, hidden, m, head, logits.data(), head.rows, &pool);
}

}  // namespace

void Model::forward(const ForwardBatch& batch, LatentCache& cache, ThreadPool& pool,
                    ForwardOutput& out) const {
  check_batch(batch, cache);
  const ModelConfig& c = config_;
  const int64_t n = static_cast<int64_t>(batch.tokens.size()), hidden = c.hidden_size;
  Workspace& ws = out.ws;
  float* x = grow(ws.x, n * hidden);
  for (int64_t t = 0; t < n; ++t)
    kernels::load_row(weights_.embed, batch.tokens[t], x + t * hidden);

  if (out.capture_hidden) out.hidden.assign(static_cast<size_t>(c.num_hidden_layers + 1), {});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    if (out.capture_hidden) out.hidden[l].assign(x, x + n * hidden);
    detail::decoder_layer(c, rope_, weights_.layers[l], l, batch, cache, ws, pool);
  }
  out.final_hidden.resize(static_cast<size_t>(n * hidden));
  detail::rmsnorm_rows(x, n, hidden, weights_.final_norm, c.rms_norm_eps, out.final_hidden.data(),
                       pool);
  if (out.capture_hidden) out.hidden[c.num_hidden_layers] = out.final_hidden;
  head_logits(out.final_hidden.data(), hidden, batch.logit_rows, weights_.lm_head, ws, out.logits,
              pool);
}

void Model::forward_mtp(int depth, const ForwardBatch& batch, std::span<const float> hidden_in,
                        LatentCache& cache, ThreadPool& pool, ForwardOutput& out) const {
  if (depth < 0 || depth >= static_cast<int>(weights_.mtp.size()))
    throw Error("forward_mtp: the model has no MTP layer " + std::to_string(depth));
  check_batch(batch, cache);
  const ModelConfig& c = config_;
  const MtpWeights& m = weights_.mtp[depth];
  const int64_t n = static_cast<int64_t>(batch.tokens.size()), hidden = c.hidden_size;
  if (static_cast<int64_t>(hidden_in.size()) != n * hidden)
    throw Error("forward_mtp: hidden states do not match the batch");
  Workspace& ws = out.ws;
  // Input: concat(enorm(embed(token)), hnorm(h)) -> eh_proj.
  float* in = grow(ws.mtp_in, n * 2 * hidden);
  float* e = grow(ws.h, n * hidden);
  for (int64_t t = 0; t < n; ++t) kernels::load_row(m.embed, batch.tokens[t], e + t * hidden);
  for (int64_t t = 0; t < n; ++t) {
    kernels::rmsnorm(e + t * hidden, m.enorm, static_cast<float>(c.rms_norm_eps), hidden,
                     in + t * 2 * hidden);
    kernels::rmsnorm(hidden_in.data() + t * hidden, m.hnorm, static_cast<float>(c.rms_norm_eps),
                     hidden, in + t * 2 * hidden + hidden);
  }
  float* x = grow(ws.x, n * hidden);
  kernels::matmul(in, 2 * hidden, n, m.eh_proj, x, hidden, &pool);
  detail::decoder_layer(c, rope_, m.layer, c.num_hidden_layers + depth, batch, cache, ws, pool);
  float* normed = grow(ws.mlp_out, n * hidden);
  detail::rmsnorm_rows(x, n, hidden, m.head_norm, c.rms_norm_eps, normed, pool);
  std::vector<int32_t> all(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t) all[t] = static_cast<int32_t>(t);
  head_logits(normed, hidden, all, m.head, ws, out.logits, pool);
}

}  // namespace dsx
