// The expanded ("un-absorbed") form of MLA for one run of prompt rows of a sequence (mla.cc picks
// the form). With K = one past the run's last position, every cached latent of the sequence is
// multiplied back out by kv_b (one matmul for all heads), and attention runs in the heads' own,
// smaller dimensions:
//   k[h][j] = [W_UK[h] c_kv[j] | k_pe[j]]   (qk_head_dim),   v[h][j] = W_UV[h] c_kv[j]   (v)
//   s_ij    = (q[i][h] . k[h][j]) * scale                     (kernels::attention_scores)
//   p_ij    = exp(s_ij - m_i) for j <= pos_i, l_i = sum_j p_ij (kernels::attention_softmax_causal)
//   out[i][h] = (sum_j p_ij v[h][j]) / l_i                    (kernels::attention_values)
// The kernels are the latent form's, turned on their side: there a vector's lanes are one token's
// heads sharing a key; here they are 16 consecutive rows of the run sharing a head's key. A
// row's softmax covers all its keys at once, and each of its scores, its sums and each output is
// one chain over its own keys in order (keys past it enter with weight exactly 0), so the row's
// result depends only on its query and the cache, never on the run's length or start.
#include <algorithm>

#include "model/internal.h"

namespace dsx::detail {

namespace {

constexpr int64_t kLaneRows = 16;             // query rows per lane group
constexpr int64_t kTileRows = 3 * kLaneRows;  // rows per task: the scores kernel's 3 vectors

struct Shape {
  int64_t heads, qk, nope, vdim, kv_lora, rope;
  float scale;
};

// One task: head g of the group (keys [K, qk], value rows) for run rows [i0, i0 + rows).
void tile(const Shape& sh, int64_t first, int64_t i0, int64_t rows, const float* q_head,
          int64_t ldq, const float* keys, const float* const* value_rows, float* scratch,
          float* out, int64_t ldo) {
  const int64_t groups = (rows + kLaneRows - 1) / kLaneRows;
  const int64_t nkeys = first + i0 + rows;  // one past the tile's last row's position
  const int64_t ldt = nkeys * kLaneRows;
  float* qt = scratch;                          // [groups, qk, 16]
  float* s = qt + groups * sh.qk * kLaneRows;   // [groups, nkeys, 16]
  float* o = s + groups * ldt;                  // [groups, 16, vdim]
  float* l = o + groups * kLaneRows * sh.vdim;  // [groups, 16]
  std::fill_n(qt, groups * sh.qk * kLaneRows, 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    float* dst = qt + (r / kLaneRows) * sh.qk * kLaneRows + r % kLaneRows;
    const float* src = q_head + (i0 + r) * ldq;
    for (int64_t d = 0; d < sh.qk; ++d) dst[d * kLaneRows] = src[d];
  }
  kernels::attention_scores(qt, groups, kLaneRows, sh.qk, keys, sh.qk, nkeys, s, ldt);
  for (int64_t g = 0; g < groups; ++g)
    kernels::attention_softmax_causal(s + g * ldt, nkeys, first + i0 + g * kLaneRows + 1, kLaneRows,
                                      sh.scale, l + g * kLaneRows);
  kernels::attention_values(s, ldt, kLaneRows, groups, kLaneRows, value_rows, nkeys, sh.vdim, o);
  for (int64_t r = 0; r < rows; ++r) {
    const float inv = 1.0f / l[r];
    const float* src = o + r * sh.vdim;  // lane groups are consecutive: [groups * 16, vdim]
    float* dst = out + (i0 + r) * ldo;
    for (int64_t c = 0; c < sh.vdim; ++c) dst[c] = src[c] * inv;
  }
}

}  // namespace

void expanded_attention(const ModelConfig& c, const MlaWeights& w, int32_t seq, int64_t first,
                        int64_t rows, const float* q, const LatentCache& cache, int64_t layer,
                        Workspace& ws, ThreadPool& pool, float* attn) {
  Shape sh;
  sh.heads = c.num_attention_heads;
  sh.qk = c.qk_head_dim();
  sh.nope = c.qk_nope_head_dim;
  sh.vdim = c.v_head_dim;
  sh.kv_lora = c.kv_lora_rank;
  sh.rope = c.qk_rope_head_dim;
  sh.scale = static_cast<float>(c.softmax_scale());
  const int64_t keys = first + rows, ldq = sh.heads * sh.qk, ldo = sh.heads * sh.vdim;

  // The sequence's latents, gathered from their cache blocks into one matrix.
  float* latent = grow(ws.x_latent, keys * sh.kv_lora);  // [keys, kv_lora]
  pool.parallel_for(keys, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j)
      std::copy_n(cache.entry(layer, seq, j), sh.kv_lora, latent + j * sh.kv_lora);
  });

  // Heads go in groups whose keys and values fit ws.expanded_floats, a group being a band of
  // kv_b's rows that keeps its layout.
  const int64_t stride = sh.nope + sh.vdim;  // kv_b rows per head
  const int64_t per_head = keys * (stride + sh.qk);
  int64_t group = std::clamp<int64_t>(ws.expanded_floats / per_head, 1, sh.heads);
  int64_t step = 1;  // heads per group must be a multiple of step
  while (step < sh.heads &&
         ((w.kv_b.interleaved && step * stride % kernels::kInterleaveRows != 0) ||
          (w.kv_b.tiled && step * stride % kernels::kTileGroupRows != 0) ||
          (w.kv_b.type == DType::F8_E4M3 && step * stride % w.kv_b.block != 0)))
    ++step;
  group = std::min(sh.heads, std::max(step, group / step * step));
  const int threads = pool.size();
  ws.attn_thread.resize(static_cast<size_t>(threads));
  for (int64_t h0 = 0; h0 < sh.heads; h0 += group) {
    const int64_t gh = std::min(group, sh.heads - h0);
    // kv[j] = kv_b[heads h0 .. h0 + gh) c_kv[j]: per head [W_UK c_kv | W_UV c_kv].
    float* kv = grow(ws.x_kv, keys * gh * stride);  // [keys, gh, nope + v]
    kernels::matmul(latent, sh.kv_lora, keys, kernels::row_band(w.kv_b, h0 * stride, gh * stride),
                    kv, gh * stride, &pool);
    // Each head's keys: [W_UK c_kv | k_pe], the roped key shared by every head.
    float* key_buf = grow(ws.x_keys, gh * keys * sh.qk);  // [gh, keys, qk]
    pool.parallel_for(keys, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        const float* pe = cache.entry(layer, seq, j) + sh.kv_lora;
        for (int64_t g = 0; g < gh; ++g) {
          float* key = key_buf + (g * keys + j) * sh.qk;
          std::copy_n(kv + (j * gh + g) * stride, sh.nope, key);
          std::copy_n(pe, sh.rope, key + sh.nope);
        }
      }
    });
    std::vector<const float*>& value_rows = ws.x_value_rows;  // [gh, keys]
    value_rows.resize(static_cast<size_t>(gh * keys));
    for (int64_t g = 0; g < gh; ++g)
      for (int64_t j = 0; j < keys; ++j)
        value_rows[g * keys + j] = kv + (j * gh + g) * stride + sh.nope;

    // Tasks: (head, tile of kTileRows rows), split into contiguous shares of equal cost (keys x
    // rows; later tiles attend more keys).
    std::vector<int64_t>& bounds = ws.x_bounds;
    const int64_t tiles = (rows + kTileRows - 1) / kTileRows, nunits = gh * tiles;
    auto cost = [&](int64_t u) {
      const int64_t i0 = (u % tiles) * kTileRows, r = std::min(kTileRows, rows - i0);
      return (first + i0 + r) * r;
    };
    split_by_cost(nunits, threads, cost, bounds);
    run_shares(pool, bounds, [&](int64_t slot, int64_t u0, int64_t u1) {
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t g = u / tiles, i0 = (u % tiles) * kTileRows;
        const int64_t r = std::min(kTileRows, rows - i0);
        const int64_t lane_groups = (r + kLaneRows - 1) / kLaneRows;
        const int64_t need = lane_groups * (sh.qk * kLaneRows + (first + i0 + r) * kLaneRows +
                                            kLaneRows * sh.vdim + kLaneRows);
        float* scratch = grow(ws.attn_thread[slot], static_cast<size_t>(need));
        tile(sh, first, i0, r, q + (h0 + g) * sh.qk, ldq, key_buf + g * keys * sh.qk,
             value_rows.data() + g * keys, scratch, attn + (h0 + g) * sh.vdim, ldo);
      }
    });
  }
}

}  // namespace dsx::detail
