// Softmax attention in latent space over the paged cache (the middle of absorbed MLA, mla.cc).
//
// THE ARITHMETIC (what makes results independent of batching, chunking and threads). For a
// query row (token t, head h) with last position L, keys are cut into chunks of kKeyChunk
// positions aligned at 0. Chunk c gives a partial over its keys j <= L:
//   s_j = (q . k_j) * scale             (kernels::attention_scores: one FMA chain over d)
//   m_c = max_j s_j,  p_j = exp(s_j - m_c),  l_c = sum_j p_j (j in order)
//   o_c = sum_j p_j c_kv_j             (kernels::attention_values: one FMA chain over j)
// and partials merge strictly in chunk order:
//   M = max(m, m_c), a = exp(m - M), b = exp(m_c - M), o = o a + o_c b, l = l a + l_c b
// with the output o / l. Every step reads only the row's own query and its sequence's keys, so
// how rows are grouped into tiles, which thread runs a chunk, and whether chunks are computed
// one after another (many tokens: each task owns whole tokens) or side by side and merged after
// (few tokens, e.g. one decode step: each task owns chunks) change nothing.
#include <algorithm>
#include <cmath>

#include "model/internal.h"

namespace dsx::detail {

namespace {

constexpr int64_t kKeyChunk = 64;    // keys per softmax chunk (aligned at position 0)
constexpr int64_t kGroupTokens = 6;  // tokens of one sequence scored together (share key loads)
constexpr int64_t kWaveUnits = 64;   // chunk partials held at once when tasks own chunks

struct Shape {
  int64_t heads, padded, dim, kv_lora;  // dim = kv_lora + rope; padded = heads rounded up to 16
  float scale;
};

// A chunk's partial for a group of consecutive batch rows of one sequence.
struct Partial {
  float* o;      // [rows, heads, kv_lora]
  float* stats;  // [rows, 2, padded]: m then l per lane
};

// Computes the partials of chunk `chunk` for batch rows [t0, t0 + rows) (one sequence). rows
// whose last position is before the chunk get m = -inf, l = 0. scores: [rows, kKeyChunk, padded].
void chunk_partial(const Shape& sh, const float* qt, const LatentCache& cache, int64_t layer,
                   int32_t seq, const int32_t* lasts, int64_t rows, int64_t chunk, float* scores,
                   Partial out) {
  const int64_t start = chunk * kKeyChunk;
  int64_t needed = start;  // one past the last key any row needs
  for (int64_t i = 0; i < rows; ++i) needed = std::max<int64_t>(needed, lasts[i] + 1);
  const int64_t end = std::min(needed, start + kKeyChunk);
  const int64_t ldt = kKeyChunk * sh.padded, stride = cache.kv_lora_rank() + cache.rope_dim();
  const int64_t block = cache.block_size();
  // Scores over the chunk, one cache block (a contiguous run of entries) at a time; each run's
  // kernel requests the next run (this chunk's or the next chunk's first), which lies elsewhere.
  for (int64_t pos = start; pos < end;) {
    const int64_t run = std::min(block - pos % block, end - pos);
    const float* next = pos + run < needed ? cache.entry(layer, seq, pos + run) : nullptr;
    kernels::attention_scores(qt, rows, sh.padded, sh.dim, cache.entry(layer, seq, pos), stride,
                              run, scores + (pos - start) * sh.padded, ldt, next);
    pos += run;
  }
  // Per lane: scale, max, exp, sum over the row's valid keys; weights past them are 0.
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t valid = std::clamp<int64_t>(lasts[i] + 1 - start, 0, end - start);
    float* m = out.stats + i * 2 * sh.padded;
    kernels::attention_softmax(scores + i * ldt, end - start, valid, sh.padded, sh.scale, m,
                               m + sh.padded);
  }
  const float* key_rows[kKeyChunk];  // the chunk's cache entries, wherever their blocks are
  for (int64_t pos = start; pos < end; ++pos) key_rows[pos - start] = cache.entry(layer, seq, pos);
  kernels::attention_values(scores, ldt, sh.padded, rows, sh.heads, key_rows, end - start,
                            sh.kv_lora, out.o);
}

// Merges a chunk partial into one row's running state (o: [heads, kv_lora]; stats as Partial's,
// m = -inf while empty).
void merge(const Shape& sh, const float* o_c, const float* stats_c, float* o, float* stats,
           int64_t h0, int64_t h1) {
  for (int64_t h = h0; h < h1; ++h) {
    const float m_c = stats_c[h], l_c = stats_c[sh.padded + h];
    if (l_c == 0.0f) continue;  // no keys in this chunk (l_c >= 1 otherwise: exp(0) is in it)
    float& m = stats[h];
    float& l = stats[sh.padded + h];
    const float* src = o_c + h * sh.kv_lora;
    float* dst = o + h * sh.kv_lora;
    if (m == -INFINITY) {
      std::copy_n(src, sh.kv_lora, dst);
      m = m_c, l = l_c;
      continue;
    }
    const float top = std::fmax(m, m_c), a = std::exp(m - top), b = std::exp(m_c - top);
    for (int64_t i = 0; i < sh.kv_lora; ++i) dst[i] = dst[i] * a + src[i] * b;
    l = l * a + l_c * b;
    m = top;
  }
}

// o /= l per head: the finished output.
void finish(const Shape& sh, const float* stats, float* o, int64_t h0, int64_t h1) {
  for (int64_t h = h0; h < h1; ++h) {
    const float inv = 1.0f / stats[sh.padded + h];
    for (int64_t i = 0; i < sh.kv_lora; ++i) o[h * sh.kv_lora + i] *= inv;
  }
}

int64_t chunks_of(int32_t last) {
  return last / kKeyChunk + 1;
}

}  // namespace

void latent_attention(const ModelConfig& c, const AttentionRows& batch, const float* q_latent,
                      const LatentCache& cache, int64_t layer, Workspace& ws, ThreadPool& pool,
                      float* o_latent) {
  const int64_t n = batch.size();
  Shape sh;
  sh.heads = c.num_attention_heads;
  sh.padded = (sh.heads + 15) / 16 * 16;
  sh.kv_lora = c.kv_lora_rank;
  sh.dim = c.kv_lora_rank + c.qk_rope_head_dim;
  sh.scale = static_cast<float>(c.softmax_scale());
  const int64_t row_o = sh.heads * sh.kv_lora, row_stats = 2 * sh.padded;

  // Queries transposed into lanes: qt[t][d][p] = q_latent[t][p][d] (0 for padding lanes).
  float* qt = grow(ws.attn_qt, n * sh.dim * sh.padded);
  pool.parallel_for(n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float* dst = qt + t * sh.dim * sh.padded;
      std::fill_n(dst, sh.dim * sh.padded, 0.0f);
      for (int64_t h = 0; h < sh.heads; ++h) {
        const float* src = q_latent + (t * sh.heads + h) * sh.dim;
        for (int64_t d = 0; d < sh.dim; ++d) dst[d * sh.padded + h] = src[d];
      }
    }
  });

  // Groups: up to kGroupTokens consecutive rows of one sequence.
  std::vector<int64_t>& groups = ws.attn_groups;  // first row of each group, then n
  groups.clear();
  for (int64_t t = 0; t < n; ++t) {
    if (groups.empty() || batch.seqs[t] != batch.seqs[groups.back()] ||
        t - groups.back() == kGroupTokens)
      groups.push_back(t);
  }
  const int64_t ngroups = static_cast<int64_t>(groups.size());
  groups.push_back(n);
  const int threads = pool.size();
  ws.attn_thread.resize(static_cast<size_t>(threads));
  float* stats = grow(ws.attn_stats, n * row_stats);  // running m, l per row
  for (int64_t t = 0; t < n; ++t) {
    std::fill_n(stats + t * row_stats, sh.padded, -INFINITY);
    std::fill_n(stats + t * row_stats + sh.padded, sh.padded, 0.0f);
  }
  std::vector<int64_t>& bounds = ws.attn_bounds;  // per pool thread: its share of tasks

  if (ngroups >= 2 * threads) {
    // Tasks own whole groups and run their chunks in order; contiguous split by cost (keys).
    split_by_cost(
        ngroups, threads, [&](int64_t g) { return batch.positions[groups[g + 1] - 1] + 1; },
        bounds);
    const int64_t part = kGroupTokens * (row_o + row_stats);
    run_shares(pool, bounds, [&](int64_t slot, int64_t g0, int64_t g1) {
      float* buf = grow(ws.attn_thread[slot], part + kGroupTokens * kKeyChunk * sh.padded);
      const Partial p{buf, buf + kGroupTokens * row_o};
      float* scores = buf + part;
      for (int64_t g = g0; g < g1; ++g) {
        const int64_t t0 = groups[g], rows = groups[g + 1] - t0;
        for (int64_t ch = 0; ch < chunks_of(batch.positions[t0 + rows - 1]); ++ch) {
          chunk_partial(sh, qt + t0 * sh.dim * sh.padded, cache, layer, batch.seqs[t0],
                        batch.positions.data() + t0, rows, ch, scores, p);
          for (int64_t i = 0; i < rows; ++i)
            merge(sh, p.o + i * row_o, p.stats + i * row_stats, o_latent + (t0 + i) * row_o,
                  stats + (t0 + i) * row_stats, 0, sh.heads);
        }
        for (int64_t i = 0; i < rows; ++i)
          finish(sh, stats + (t0 + i) * row_stats, o_latent + (t0 + i) * row_o, 0, sh.heads);
      }
    });
    return;
  }

  // Few rows: tasks own (row, chunk) units, computed in waves and merged in chunk order after.
  std::vector<int64_t>& units = ws.attn_units;  // the wave's (row, chunk) pairs, flattened
  for (int64_t t = 0, next_chunk = 0; t < n;) {
    units.clear();
    while (t < n && static_cast<int64_t>(units.size()) < 2 * kWaveUnits) {
      units.push_back(t);
      units.push_back(next_chunk);
      if (++next_chunk == chunks_of(batch.positions[t])) ++t, next_chunk = 0;
    }
    const int64_t nunits = static_cast<int64_t>(units.size()) / 2;
    float* parts = grow(ws.attn_parts, nunits * (row_o + row_stats));
    bounds.resize(static_cast<size_t>(threads) + 1);
    for (int slot = 0; slot <= threads; ++slot) bounds[slot] = nunits * slot / threads;
    run_shares(pool, bounds, [&](int64_t slot, int64_t u0, int64_t u1) {
      float* scores = grow(ws.attn_thread[slot], kKeyChunk * sh.padded);
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t row = units[2 * u];
        const Partial p{parts + u * row_o, parts + nunits * row_o + u * row_stats};
        chunk_partial(sh, qt + row * sh.dim * sh.padded, cache, layer, batch.seqs[row],
                      batch.positions.data() + row, 1, units[2 * u + 1], scores, p);
      }
    });
    // Heads merge independently: split them across threads, each in chunk order.
    pool.parallel_for(sh.heads, [&](int64_t h0, int64_t h1) {
      for (int64_t u = 0; u < nunits; ++u) {
        const int64_t row = units[2 * u];
        merge(sh, parts + u * row_o, parts + nunits * row_o + u * row_stats, o_latent + row * row_o,
              stats + row * row_stats, h0, h1);
        if (units[2 * u + 1] + 1 == chunks_of(batch.positions[row]))
          finish(sh, stats + row * row_stats, o_latent + row * row_o, h0, h1);
      }
    });
  }
}

}  // namespace dsx::detail
