// Latent attention building blocks (ops.h): scores with query rows in lanes, and the weighted
// sum of latent rows. Both are register-tiled outer products, so neither needs a horizontal sum
// and every output is a single FMA chain in the documented order (bit-identical to the scalar
// references and independent of how tokens, keys or heads are tiled).
//
// The body below is compiled once per instruction set: this file includes itself inside each
// target region (the scheme of dot.cc).
#ifndef DSX_CPU_KERNEL_BODY
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd.h"

#define DSX_CPU_KERNEL_BODY
DSX_BEGIN_AVX512
namespace dsx::kernels::cpu::avx512 {
#include "kernels/cpu/attention.cc"  // NOLINT(build/include): the body, see above
}  // namespace dsx::kernels::cpu::avx512
DSX_END_TARGET
DSX_BEGIN_AVX2
namespace dsx::kernels::cpu::avx2 {
#include "kernels/cpu/attention.cc"  // NOLINT(build/include)
}  // namespace dsx::kernels::cpu::avx2
DSX_END_TARGET
#undef DSX_CPU_KERNEL_BODY

#else  // the body

namespace {

// Scores tile: NV query vectors (kLanes query rows each) x NK keys of accumulators. Per d: NV
// query loads and NK broadcast key elements feed NV * NK FMAs. AVX-512: 3 x 8 (24 of 32
// registers); AVX2: 2 x 4. A lone vector (one decode token) takes twice the keys to keep enough
// independent chains in flight.
constexpr int kScoreVecs = kLanes == 16 ? 3 : 2;
constexpr int kScoreKeys = kLanes == 16 ? 8 : 4;

// q[v]: vector v's [dim] column (stride padded); out[v]: its scores row for key 0 (stride padded
// per key). KS > 0: the key stride, known at compile time (ks is then ignored), so every key
// element is an immediate offset from one pointer; with a run-time stride the 16 key pointers of
// a decode tile do not fit the general registers and are reloaded every d (measured on keys in
// cache, one thread: 146 -> 168 GFLOP/s with DeepSeek's 576).
//
// next: where the keys scored after this tile start (nullptr for none). Their first NK rows are
// requested into L2 as this tile goes, a line or so per d-step: in decode the keys are read once,
// from memory, 16 rows at a time, and the hardware prefetchers do not follow 16 short strided
// streams (a decode tile over keys not in cache: 54 -> 113 GFLOP/s on one thread).
template <int NV, int NK, int64_t KS>
inline void scores_tile(const float* const* q, int64_t padded, int64_t dim, const float* keys,
                        int64_t ks_runtime, float* const* out, const char* next) {
  const int64_t ks = KS > 0 ? KS : ks_runtime;
  F acc[NV][NK];
  DSX_UNROLL for (int v = 0; v < NV; ++v) DSX_UNROLL for (int k = 0; k < NK; ++k) acc[v][k] =
      zero();
  const int64_t lines = next ? (NK * ks * int64_t{sizeof(float)} + 63) / 64 : 0;
  const int64_t per_step = (lines + dim - 1) / dim;
  int64_t fetched = 0;
  for (int64_t d = 0; d < dim; ++d) {
    for (int64_t i = 0; i < per_step && fetched < lines; ++i, ++fetched)
      _mm_prefetch(next + fetched * 64, _MM_HINT_T1);
    F qv[NV];
    DSX_UNROLL for (int v = 0; v < NV; ++v) qv[v] = loadu(q[v] + d * padded);
    DSX_UNROLL for (int k = 0; k < NK; ++k) {
      const F kb = set1(keys[k * ks + d]);
      DSX_UNROLL for (int v = 0; v < NV; ++v) acc[v][k] = fmadd(qv[v], kb, acc[v][k]);
    }
  }
  DSX_UNROLL for (int v = 0; v < NV; ++v) DSX_UNROLL for (int k = 0; k < NK; ++k) {
    storeu(out[v] + k * padded, acc[v][k]);
  }
}

// All nkeys keys for NV vectors: tiles of NK keys, the remainder in halving tiles. Each tile
// requests the keys after it: the next tile's, or for the last one next_keys.
template <int NV, int NK, int64_t KS>
inline void scores_keys(const float* const* q, int64_t padded, int64_t dim, const float* keys,
                        int64_t ks, int64_t nkeys, float* const* out, const float* next_keys) {
  int64_t j = 0;
  for (; j + NK <= nkeys; j += NK) {
    float* o[NV];
    DSX_UNROLL for (int v = 0; v < NV; ++v) o[v] = out[v] + j * padded;
    const float* next = j + NK < nkeys ? keys + (j + NK) * ks : next_keys;
    scores_tile<NV, NK, KS>(q, padded, dim, keys + j * ks, ks, o,
                            reinterpret_cast<const char*>(next));
  }
  if constexpr (NK > 1) {
    if (j < nkeys) {
      float* o[NV];
      DSX_UNROLL for (int v = 0; v < NV; ++v) o[v] = out[v] + j * padded;
      scores_keys<NV, NK / 2, KS>(q, padded, dim, keys + j * ks, ks, nkeys - j, o, next_keys);
    }
  }
}

// The key strides of every DeepSeek model: the latent cache's entry, kv_lora_rank 512 + rope 64;
// and a head's expanded key (model/expanded_attention.cc), qk_nope 128 + rope 64.
constexpr int64_t kDeepSeekKeyStride = 576;
constexpr int64_t kDeepSeekHeadKeyStride = 192;

template <int NV, int NK>
inline void scores_any_stride(const float* const* q, int64_t padded, int64_t dim, const float* keys,
                              int64_t ks, int64_t nkeys, float* const* out,
                              const float* next_keys) {
  if (ks == kDeepSeekKeyStride) {
    scores_keys<NV, NK, kDeepSeekKeyStride>(q, padded, dim, keys, ks, nkeys, out, next_keys);
  } else if (ks == kDeepSeekHeadKeyStride) {
    scores_keys<NV, NK, kDeepSeekHeadKeyStride>(q, padded, dim, keys, ks, nkeys, out, next_keys);
  } else {
    scores_keys<NV, NK, 0>(q, padded, dim, keys, ks, nkeys, out, next_keys);
  }
}

// Values tile: R rows (consecutive heads of one token) x C chunks of kLanes columns. Per key: C
// loads of the key row and R broadcast weights feed R * C FMAs. The key rows come from L2 (a
// chunk of the cache is re-read for every tile), so rows are favoured over chunks: 8 x 3 moves
// 8 bytes of keys per FMA where 4 x 4 moved 16. kPartial: the single chunk has only `tail` valid
// columns (masked loads and stores).
constexpr int kValueRows = kLanes == 16 ? 8 : 4;
constexpr int kValueChunks = kLanes == 16 ? 3 : 2;

template <int R, int C, bool kPartial>
inline void values_tile(const float* p, int64_t padded, const float* const* keys, int64_t c0,
                        int64_t nkeys, float* o, int64_t dim, int tail) {
  F acc[R][C];
  DSX_UNROLL for (int r = 0; r < R; ++r) DSX_UNROLL for (int c = 0; c < C; ++c) acc[r][c] = zero();
  for (int64_t j = 0; j < nkeys; ++j) {
    const float* k = keys[j] + c0;
    F kv[C];
    DSX_UNROLL for (int c = 0; c < C; ++c) {
      kv[c] = kPartial ? load_first(k, tail) : loadu(k + c * kLanes);
    }
    DSX_UNROLL for (int r = 0; r < R; ++r) {
      const F pb = set1(p[j * padded + r]);
      DSX_UNROLL for (int c = 0; c < C; ++c) acc[r][c] = fmadd(pb, kv[c], acc[r][c]);
    }
  }
  DSX_UNROLL for (int r = 0; r < R; ++r) DSX_UNROLL for (int c = 0; c < C; ++c) {
    if (kPartial) {
      store_first(o + r * dim + c0, acc[r][c], tail);
    } else {
      storeu(o + r * dim + c0 + c * kLanes, acc[r][c]);
    }
  }
}

// R rows over all dim columns.
template <int R>
inline void values_rows(const float* p, int64_t padded, const float* const* keys, int64_t nkeys,
                        float* o, int64_t dim) {
  int64_t c = 0;
  for (; c + kValueChunks * kLanes <= dim; c += kValueChunks * kLanes)
    values_tile<R, kValueChunks, false>(p, padded, keys, c, nkeys, o, dim, kLanes);
  if constexpr (kValueChunks > 2) {  // e.g. v_head_dim 128: 3 + 3 + 2 chunks, not 3 + 3 + 1 + 1
    for (; c + 2 * kLanes <= dim; c += 2 * kLanes)
      values_tile<R, 2, false>(p, padded, keys, c, nkeys, o, dim, kLanes);
  }
  for (; c + kLanes <= dim; c += kLanes)
    values_tile<R, 1, false>(p, padded, keys, c, nkeys, o, dim, kLanes);
  if (c < dim)
    values_tile<R, 1, true>(p, padded, keys, c, nkeys, o, dim, static_cast<int>(dim - c));
}

}  // namespace

void attention_scores(const float* qt, int64_t tokens, int64_t padded, int64_t dim,
                      const float* keys, int64_t key_stride, int64_t nkeys, float* s, int64_t ldt,
                      const float* next_keys) {
  const int64_t per_token = padded / kLanes;  // query vectors per token
  const int64_t vectors = tokens * per_token;
  auto query = [&](int64_t u) {
    return qt + (u / per_token) * dim * padded + (u % per_token) * kLanes;
  };
  auto scores = [&](int64_t u) { return s + (u / per_token) * ldt + (u % per_token) * kLanes; };
  int64_t u = 0;
  for (; u + kScoreVecs <= vectors; u += kScoreVecs) {
    const float* q[kScoreVecs];
    float* out[kScoreVecs];
    for (int v = 0; v < kScoreVecs; ++v) q[v] = query(u + v), out[v] = scores(u + v);
    // The next keys are requested on the last pass only (the earlier ones leave these in L2).
    const float* next = u + 2 * kScoreVecs <= vectors ? nullptr : next_keys;
    scores_any_stride<kScoreVecs, kScoreKeys>(q, padded, dim, keys, key_stride, nkeys, out, next);
  }
  for (; u < vectors; ++u) {
    const float* q[1] = {query(u)};
    float* out[1] = {scores(u)};
    scores_any_stride<1, 2 * kScoreKeys>(q, padded, dim, keys, key_stride, nkeys, out,
                                         u + 1 < vectors ? nullptr : next_keys);
  }
}

void attention_values(const float* p, int64_t ldt, int64_t padded, int64_t tokens, int64_t heads,
                      const float* const* keys, int64_t nkeys, int64_t dim, float* o) {
  for (int64_t t = 0; t < tokens; ++t) {
    int64_t h = 0;
    for (; h + kValueRows <= heads; h += kValueRows)
      values_rows<kValueRows>(p + t * ldt + h, padded, keys, nkeys, o + (t * heads + h) * dim, dim);
    if constexpr (kValueRows > 4) {
      for (; h + 4 <= heads; h += 4)
        values_rows<4>(p + t * ldt + h, padded, keys, nkeys, o + (t * heads + h) * dim, dim);
    }
    for (; h < heads; ++h)
      values_rows<1>(p + t * ldt + h, padded, keys, nkeys, o + (t * heads + h) * dim, dim);
  }
}

#endif
