// Shared matmul kernel text (GEMV and tiled GEMM), compiled once per instruction set.
//
// Include this only inside a target region and the matching namespace, after simd.h:
//   DSX_BEGIN_AVX512 namespace dsx::kernels::cpu::avx512 { #include "matmul_tiling.h" ... }
// It has no include guard on purpose (each region needs its own copy) and includes nothing.
//
// THE ORDER OF OPERATIONS (the determinism contract). With L = kLanes, every path computes one
// output y[t][r] = sum_c x[t][c] * w[r][c] as:
//   acc = 0 (L lanes)
//   for each chunk k of L columns, in order:  acc = fma(w[r][kL..kL+L), x[t][kL..kL+L), acc)
//     (the last chunk, if cols % L != 0, is zero-padded in both operands)
//   y[t][r] = hsum(acc)   (the fixed tree in simd.h; hsum_many computes it for many at once)
// FP8 weights enter as the exact decode q * 2^-8 and the block scale moves to the activations:
// x'[c] = x[c] * (256 * s[r / block][c / block]), rounded once, then the same chain over
// (q * 2^-8, x'). x' depends only on the row's block-scale row, so it is computed once per
// `block` rows (GEMV: into a scratch row; GEMM: while packing x) and the kernels stay plain FMA
// chains: no multiply per weight, no per-block fold.
// GEMV (tokens == 1) and the few-token path convert weights in registers; GEMM converts a band
// of weights once into an f32 buffer and reuses it across all tokens, and blocks columns
// (spilling acc to memory between column blocks, which is exact). None changes the sequence above,
// so y[t][r] is bit-identical whatever the token count, the tile a row or token lands in, or the
// thread count.

// Register tile of the GEMM micro-kernel: kTileRows x kTileTokens vector accumulators, plus one
// register per tile row for the weights and one for x. AVX-512 has 32 registers (24 + 4 + 1);
// AVX2 has 16 (12 + 2 + 1).
constexpr int kTileRows = kLanes == 16 ? 4 : 2;
constexpr int kTileTokens = 6;
// Cache blocking (gemm_block). A token tile's packed x (kTileTokens x kBlockCols: 24 KiB with
// AVX-512, 12 KiB with AVX2) stays in L1 while the packed weights of every row tile of a
// kBlockRows band stream past it from L2; the band's vector accumulators (kBlockRows x
// kBlockTokens x 64 B) carry over between column blocks. Measured on AVX-512 at 512 tokens: 256
// columns 53% of the FMA peak, 1024 columns with this loop order 59-64%.
constexpr int kBlockTokens = kTileTokens * 6;
constexpr int kBlockRows = 16;
constexpr int kBlockCols = kLanes == 16 ? 1024 : 512;
constexpr int kGemvRows = kLanes == 16 ? 8 : 4;  // rows per GEMV tile (one x load serves them)
static_assert(kBlockRows % kTileRows == 0 && kBlockCols % kLanes == 0);
// Row stride of the packed buffers, in floats: a line past kBlockCols, so the 4 weight and 6 x
// rows the micro-kernel reads side by side do not all fall in one L1 set (a 4 KiB stride would
// put all 10 in the same set of a 12-way cache).
constexpr int kPackLd = kBlockCols + 16;

// Weight formats: a chunk of L stored elements as float32 (exact conversions). kScaled: the
// activations carry the block scale (fp8). kPairs: pair() decodes two chunks for the price of
// about one and a half, which matters where decode, not memory, sets the pace.
struct F32Weights {
  using T = float;
  static constexpr bool kScaled = false, kPairs = false;
  static F chunk(const T* p) { return loadu(p); }
  static F partial(const T* p, int n) { return load_first(p, n); }
};
struct Bf16Weights {
  using T = uint16_t;
  static constexpr bool kScaled = false, kPairs = false;
  static F chunk(const T* p) { return load_bf16(p); }
  static F partial(const T* p, int n) { return load_bf16_first(p, n); }
};
struct F16Weights {
  using T = uint16_t;
  static constexpr bool kScaled = false, kPairs = false;
  static F chunk(const T* p) { return load_f16(p); }
  static F partial(const T* p, int n) { return load_f16_first(p, n); }
};
struct Fp8Weights {  // values q * 2^-8
  using T = uint8_t;
  static constexpr bool kScaled = true, kPairs = true;
  static F chunk(const T* p) { return load_fp8(p); }
  static F partial(const T* p, int n) { return load_fp8_first(p, n); }
  static void pair(const T* p, F* lo, F* hi) { load_fp8x2(p, lo, hi); }
};

// out[c - c0] = x[c] * (256 * scale_row[c / block]) for c in [c0, c1): the fp8 activations for
// rows whose block-scale row is scale_row. c0 and block are multiples of kLanes, so each chunk
// has one scale.
inline void scale_x(const float* x, int64_t c0, int64_t c1, const float* scale_row, int64_t block,
                    float* out) {
  int64_t c = c0;
  for (; c + kLanes <= c1; c += kLanes) {
    storeu(out + (c - c0), mul(loadu(x + c), set1(scale_row[c / block] * 256.0f)));
  }
  if (c < c1) {
    const int n = static_cast<int>(c1 - c);
    store_first(out + (c - c0), mul(load_first(x + c, n), set1(scale_row[c / block] * 256.0f)), n);
  }
}

// Per-thread scratch (slot 0: GEMV's scaled x, slot 1: GEMM's packed x, slot 2: its packed
// weights), 64-byte aligned and grown on first use, so warm calls allocate nothing.
inline float* scratch(int slot, size_t floats) {
  thread_local std::vector<float> bufs[3];
  std::vector<float>& buf = bufs[slot];
  const size_t align = 64 / sizeof(float);
  if (buf.size() < floats + align) buf.resize(floats + align);
  const auto addr = reinterpret_cast<uintptr_t>(buf.data());
  return buf.data() + ((64 - addr % 64) % 64) / sizeof(float);
}

// Walks a region into L2 a few lines per call, never past its end (GEMV and the few-token path
// fetch the next tile's rows this way while computing the current one).
struct LinePrefetcher {
  const char* at;
  const char* end;
  void step(int64_t bytes) {
    for (int64_t b = 0; b < bytes && at < end; b += 64, at += 64) _mm_prefetch(at, _MM_HINT_T1);
  }
};

// Where the rows of a band live (WeightView::interleaved). Rows [0, full) are interleaved: row
// r starts (r % 8) pieces into its group, and its next piece is a group's width of pieces on;
// rows from `full` on are row-major. Chunk k of a row (kLanes elements from column k * kLanes)
// is at row(r) + offset(k, piece_stride(r)). No tile straddles `full`: tiles start on multiples
// of their height, which divides kInterleaveRows. Chunk k and k + 1 (fp8 pairs, k even) are
// adjacent in either layout, as a piece holds a whole number of pairs.
template <class T>
struct RowLayout {
  static constexpr int64_t kPiece = kInterleaveBytes / static_cast<int64_t>(sizeof(T));
  static_assert(kPiece % kLanes == 0);
  const T* base;
  int64_t cols;
  int64_t full;
  RowLayout(const T* data, int64_t rows, int64_t cols_, bool interleaved)
      : base(data), cols(cols_), full(interleaved ? rows / kInterleaveRows * kInterleaveRows : 0) {}
  const T* row(int64_t r) const {
    return r < full
               ? base + r / kInterleaveRows * kInterleaveRows * cols + r % kInterleaveRows * kPiece
               : base + r * cols;
  }
  int64_t piece_stride(int64_t r) const { return r < full ? kInterleaveRows * kPiece : kPiece; }
  static int64_t offset(int64_t k, int64_t stride) {
    const int64_t c = k * kLanes;
    return c / kPiece * stride + c % kPiece;
  }
};

// How far ahead a GEMV over interleaved rows requests lines, into L1: the hardware alone keeps
// too few lines in flight even on a linear run. Measured on two threads, 1408x1024 bf16: none
// 21 GB/s, 1 KiB 27.5, 2 KiB 28-29, 4 KiB 21-29 (unstable).
constexpr int64_t kGemvLinearAhead = 2048;

// ---------------------------------------------------------------------------------------------
// GEMV: y[r] = x . w[r] for R rows at once (R independent FMA chains; x loaded once per chunk).
// x: [cols]; w: R rows of [cols], row stride cols; y: [R].
//
// Prefetch. A tile's R rows are one contiguous region, and so is the next tile's. Rows of real
// models are short (1-4 KiB), too short for the hardware streamers to train on each row in time,
// so while a tile is computed its successor region is prefetched linearly, exactly as many lines
// per step as the tile consumes: the rows arrive one tile ahead. next/next_bytes: that region
// (nullptr/0 for the last tile of a band).
// Row-major rows only: interleaved groups take gemv_group.
template <class W, int R>
inline void gemv_tile(const float* x, const typename W::T* w, int64_t cols, float* y,
                      const char* next, int64_t next_bytes) {
  F acc[R];
  DSX_UNROLL for (int r = 0; r < R; ++r) acc[r] = zero();
  const int64_t full = cols / kLanes;
  const int tail = static_cast<int>(cols % kLanes);
  // Bytes of the next region to prefetch per chunk of this tile (same size as consumed).
  constexpr int64_t kStep = int64_t{R} * kLanes * sizeof(typename W::T);
  LinePrefetcher ahead{next, next + next_bytes};
  auto prefetch_step = [&](int chunks) { ahead.step(chunks * kStep); };
  int64_t k = 0;
  if constexpr (W::kPairs) {
    for (; k + 2 <= full; k += 2) {
      prefetch_step(2);
      const F x0 = loadu(x + k * kLanes), x1 = loadu(x + (k + 1) * kLanes);
      DSX_UNROLL for (int r = 0; r < R; ++r) {
        F w0, w1;
        W::pair(w + r * cols + k * kLanes, &w0, &w1);
        acc[r] = fmadd(w0, x0, acc[r]);
        acc[r] = fmadd(w1, x1, acc[r]);
      }
    }
  }
  for (; k < full; ++k) {
    prefetch_step(1);
    const F xk = loadu(x + k * kLanes);
    DSX_UNROLL for (int r = 0; r < R; ++r) {
      acc[r] = fmadd(W::chunk(w + r * cols + k * kLanes), xk, acc[r]);
    }
  }
  if (tail) {
    prefetch_step(1);
    const F xk = load_first(x + full * kLanes, tail);
    DSX_UNROLL for (int r = 0; r < R; ++r) {
      acc[r] = fmadd(W::partial(w + r * cols + full * kLanes, tail), xk, acc[r]);
    }
  }
  if constexpr (R == 1) {
    y[0] = hsum(acc[0]);
  } else {
    hsum_many(acc, R, y);
  }
}

// GEMV over one whole interleaved group (g: its first piece; y: its 8 outputs), piece-run by
// piece-run: the run of the group's 8 pieces of a column range is 512 linear bytes, read front to
// back, with the lines kGemvLinearAhead bytes on requested as it goes. Each row's chain takes
// its chunks in column order, as gemv_tile's does.
template <class W>
inline void gemv_group(const float* x, const typename W::T* g, int64_t cols, float* y) {
  constexpr int R = static_cast<int>(kInterleaveRows);
  constexpr int64_t P = RowLayout<typename W::T>::kPiece;
  constexpr int Q = static_cast<int>(P / kLanes);  // chunks per piece
  F acc[R];
  DSX_UNROLL for (int r = 0; r < R; ++r) acc[r] = zero();
  for (int64_t c = 0; c < cols; c += P, g += R * P) {
    F xv[Q];
    DSX_UNROLL for (int q = 0; q < Q; ++q) xv[q] = loadu(x + c + q * kLanes);
    DSX_UNROLL for (int r = 0; r < R; ++r) {
      const typename W::T* piece = g + r * P;
      _mm_prefetch(reinterpret_cast<const char*>(piece) + kGemvLinearAhead, _MM_HINT_T0);
      if constexpr (W::kPairs) {
        DSX_UNROLL for (int q = 0; q < Q; q += 2) {
          F w0, w1;
          W::pair(piece + q * kLanes, &w0, &w1);
          acc[r] = fmadd(w0, xv[q], acc[r]);
          acc[r] = fmadd(w1, xv[q + 1], acc[r]);
        }
      } else {
        DSX_UNROLL for (int q = 0; q < Q; ++q) {
          acc[r] = fmadd(W::chunk(piece + q * kLanes), xv[q], acc[r]);
        }
      }
    }
  }
  hsum_many(acc, R, y);
}

// The tile whose rows a GEMV tile prefetches is this many bytes or more ahead, so short rows
// (W_UK's 128 columns make 2 KiB tiles) still cover the memory latency.
constexpr int64_t kGemvAheadBytes = 8 << 10;

template <class W>
inline void gemv_rows(const float* x, const typename W::T* w, int64_t rows, int64_t cols,
                      bool interleaved, float* y) {
  const RowLayout<typename W::T> lay(w, rows, cols, interleaved);
  const int64_t row_bytes = cols * static_cast<int64_t>(sizeof(typename W::T));
  const char* base = reinterpret_cast<const char*>(w);
  if (lay.full > 0) {
    for (int64_t b = 0; b < kGemvLinearAhead; b += 64) _mm_prefetch(base + b, _MM_HINT_T0);
    for (int64_t r = 0; r < lay.full; r += kInterleaveRows)
      gemv_group<W>(x, w + r * cols, cols, y + r);
    for (int64_t r = lay.full; r < rows; ++r)  // the row-major tail
      gemv_tile<W, 1>(x, w + r * cols, cols, y + r, base + (r + 1) * row_bytes,
                      r + 1 < rows ? row_bytes : 0);
    return;
  }
  const int64_t tile_bytes = kGemvRows * row_bytes;
  const int64_t ahead = std::max<int64_t>(1, (kGemvAheadBytes + tile_bytes - 1) / tile_bytes);
  // The first `ahead` tiles have no predecessor to prefetch them: request them up front.
  const int64_t first = std::min<int64_t>(rows, ahead * kGemvRows) * row_bytes;
  for (int64_t b = 0; b < first; b += 64) _mm_prefetch(base + b, _MM_HINT_T0);
  int64_t r = 0;
  for (; r + kGemvRows <= rows; r += kGemvRows) {
    const int64_t next = std::min(rows, r + ahead * kGemvRows);  // first row to prefetch
    const int64_t next_rows = std::min<int64_t>(kGemvRows, rows - next);
    gemv_tile<W, kGemvRows>(x, w + r * cols, cols, y + r, base + next * row_bytes,
                            next_rows * row_bytes);
  }
  for (; r < rows; ++r) {
    const int64_t next_rows = r + 1 < rows ? 1 : 0;
    gemv_tile<W, 1>(x, w + r * cols, cols, y + r, base + (r + 1) * row_bytes,
                    next_rows * row_bytes);
  }
}

// Rows [r0, r0 + n) of w (any r0; on a group boundary if w.interleaved): fp8 runs in segments
// of rows sharing a block-scale row.
template <class W>
inline void gemv(const float* x, const WeightView& w, int64_t r0, int64_t n, float* y) {
  const auto* data = static_cast<const typename W::T*>(w.data);
  if constexpr (!W::kScaled) {
    gemv_rows<W>(x, data + r0 * w.cols, n, w.cols, w.interleaved, y);
  } else {
    const int64_t scale_cols = (w.cols + w.block - 1) / w.block;
    float* xs = scratch(0, static_cast<size_t>(w.cols));  // [cols] scaled x
    for (int64_t i = 0; i < n;) {
      const int64_t srow = (r0 + i) / w.block;
      const int64_t end = std::min(n, (srow + 1) * w.block - r0);
      scale_x(x, 0, w.cols, w.block_scale + srow * scale_cols, w.block, xs);
      gemv_rows<W>(xs, data + (r0 + i) * w.cols, end - i, w.cols, w.interleaved, y + i);
      i = end;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Few tokens (batched decode; experts that got a handful of tokens): weights are converted in
// registers as in the GEMV and each converted chunk serves a group of tokens, so nothing is
// packed (packing costs as much as the FMAs it saves at these token counts). A group of 8 rows
// stays in L1 across its token groups while the next group streams in (small_rows).
// x: [tokens, cols] (fp8: already scaled), row stride ldx; y[t * ldy + r].
constexpr int kSmallRows = kLanes == 16 ? 4 : 2;
template <class W>
constexpr int small_group() {  // tokens per tile: R x T accumulators + the converted weights
  return W::kPairs ? 4 : (kLanes == 16 ? 6 : 4);
}
// Token counts up to this take this path rather than the GEMM's (measured with bench_kernels on
// weights streamed from memory, 2 threads: bf16 3072x1024 at 16 tokens 32 -> 41 % of the FMA
// peak; fp8, whose decode this path repeats for every token group, stays faster in the GEMM).
template <class W>
constexpr int64_t small_tokens_max() {
  return W::kPairs ? 12 : 16;
}

template <class W, int R, int T>
inline void small_tile(const float* x, int64_t ldx, const RowLayout<typename W::T>& lay, int64_t r0,
                       float* y, int64_t ldy, const char* next, int64_t next_bytes) {
  using L = RowLayout<typename W::T>;
  F acc[R][T];
  const typename W::T* w[R];
  DSX_UNROLL for (int r = 0; r < R; ++r) w[r] = lay.row(r0 + r);
  DSX_UNROLL for (int r = 0; r < R; ++r) DSX_UNROLL for (int t = 0; t < T; ++t) acc[r][t] = zero();
  const int64_t stride = lay.piece_stride(r0);
  const int64_t full = lay.cols / kLanes;
  const int tail = static_cast<int>(lay.cols % kLanes);
  constexpr int64_t kStep = int64_t{R} * kLanes * sizeof(typename W::T);
  LinePrefetcher ahead{next, next + next_bytes};
  auto prefetch_step = [&](int chunks) { ahead.step(chunks * kStep); };
  int64_t k = 0;
  if constexpr (W::kPairs) {
    for (; k + 2 <= full; k += 2) {
      prefetch_step(2);
      const int64_t off = L::offset(k, stride);
      F w0[R], w1[R];
      DSX_UNROLL for (int r = 0; r < R; ++r) W::pair(w[r] + off, &w0[r], &w1[r]);
      DSX_UNROLL for (int t = 0; t < T; ++t) {
        const F x0 = loadu(x + t * ldx + k * kLanes), x1 = loadu(x + t * ldx + (k + 1) * kLanes);
        DSX_UNROLL for (int r = 0; r < R; ++r) {
          acc[r][t] = fmadd(w0[r], x0, acc[r][t]);
          acc[r][t] = fmadd(w1[r], x1, acc[r][t]);
        }
      }
    }
  }
  for (; k < full; ++k) {
    prefetch_step(1);
    const int64_t off = L::offset(k, stride);
    F wv[R];
    DSX_UNROLL for (int r = 0; r < R; ++r) wv[r] = W::chunk(w[r] + off);
    DSX_UNROLL for (int t = 0; t < T; ++t) {
      const F xv = loadu(x + t * ldx + k * kLanes);
      DSX_UNROLL for (int r = 0; r < R; ++r) acc[r][t] = fmadd(wv[r], xv, acc[r][t]);
    }
  }
  if (tail) {  // row-major only
    F wv[R];
    DSX_UNROLL for (int r = 0; r < R; ++r) wv[r] = W::partial(w[r] + full * kLanes, tail);
    DSX_UNROLL for (int t = 0; t < T; ++t) {
      const F xv = load_first(x + t * ldx + full * kLanes, tail);
      DSX_UNROLL for (int r = 0; r < R; ++r) acc[r][t] = fmadd(wv[r], xv, acc[r][t]);
    }
  }
  float sums[R * T];  // [r][t]
  hsum_many(&acc[0][0], R * T, sums);
  DSX_UNROLL for (int r = 0; r < R; ++r) DSX_UNROLL for (int t = 0; t < T; ++t) {
    y[t * ldy + r] = sums[r * T + t];
  }
}

// A tile of R rows (from row r0) for nt <= T tokens.
template <class W, int R, int T>
inline void small_tokens(int nt, const float* x, int64_t ldx, const RowLayout<typename W::T>& lay,
                         int64_t r0, float* y, int64_t ldy, const char* next, int64_t next_bytes) {
  if constexpr (T > 1) {
    if (nt < T) return small_tokens<W, R, T - 1>(nt, x, ldx, lay, r0, y, ldy, next, next_bytes);
  }
  small_tile<W, R, T>(x, ldx, lay, r0, y, ldy, next, next_bytes);
}

// R rows for all tokens, in token groups; the next region is prefetched during the first group.
template <class W, int R>
inline void small_row_tile(const float* x, int64_t ldx, int64_t tokens,
                           const RowLayout<typename W::T>& lay, int64_t r0, float* y, int64_t ldy,
                           const char* next, int64_t next_bytes) {
  constexpr int G = small_group<W>();
  for (int64_t t0 = 0; t0 < tokens; t0 += G) {
    const int nt = static_cast<int>(std::min<int64_t>(G, tokens - t0));
    small_tokens<W, R, G>(nt, x + t0 * ldx, ldx, lay, r0, y + t0 * ldy, ldy,
                          t0 == 0 ? next : nullptr, t0 == 0 ? next_bytes : 0);
  }
}

template <class W>
inline void small_rows(const float* x, int64_t ldx, int64_t tokens, const typename W::T* w,
                       int64_t rows, int64_t cols, bool interleaved, float* y, int64_t ldy) {
  static_assert(kInterleaveRows % kSmallRows == 0);
  constexpr int G = small_group<W>();
  constexpr int kHalves = static_cast<int>(kInterleaveRows / kSmallRows);
  const RowLayout<typename W::T> lay(w, rows, cols, interleaved);
  const int64_t row_bytes = cols * static_cast<int64_t>(sizeof(typename W::T));
  const char* base = reinterpret_cast<const char*>(w);
  const int64_t first = std::min<int64_t>(rows, kInterleaveRows) * row_bytes;
  for (int64_t b = 0; b < first; b += 64) _mm_prefetch(base + b, _MM_HINT_T0);
  // Rows a group of kInterleaveRows at a time, token groups outer and the group's tiles inner:
  // the group's weights stay in L1 while every token group passes, and the next group's bytes
  // stream in a share per tile call, evenly over the whole group (the storage of an interleaved
  // group is one linear run, of which each tile reads its own rows' pieces).
  const int64_t token_groups = (tokens + G - 1) / G;
  const int64_t calls = token_groups * kHalves;
  int64_t r = 0;
  for (; r + kInterleaveRows <= rows; r += kInterleaveRows) {
    const char* next = base + (r + kInterleaveRows) * row_bytes;
    const int64_t next_bytes =
        std::clamp<int64_t>(rows - r - kInterleaveRows, 0, kInterleaveRows) * row_bytes;
    const int64_t share = (next_bytes / calls + 63) / 64 * 64;
    int64_t call = 0;
    for (int64_t t0 = 0; t0 < tokens; t0 += G) {
      const int nt = static_cast<int>(std::min<int64_t>(G, tokens - t0));
      for (int half = 0; half < kHalves; ++half, ++call) {
        const int64_t from = std::min(next_bytes, call * share);
        const int64_t r0 = r + half * kSmallRows;
        small_tokens<W, kSmallRows, G>(nt, x + t0 * ldx, ldx, lay, r0, y + t0 * ldy + r0, ldy,
                                       next + from, std::min(share, next_bytes - from));
      }
    }
  }
  for (; r + kSmallRows <= rows; r += kSmallRows) {  // row-major rows past the last group
    const int64_t next_rows = std::min<int64_t>(kSmallRows, rows - r - kSmallRows);
    small_row_tile<W, kSmallRows>(x, ldx, tokens, lay, r, y + r, ldy,
                                  base + (r + kSmallRows) * row_bytes, next_rows * row_bytes);
  }
  for (; r < rows; ++r) {
    small_row_tile<W, 1>(x, ldx, tokens, lay, r, y + r, ldy, base + (r + 1) * row_bytes,
                         r + 1 < rows ? row_bytes : 0);
  }
}

// Rows [r0, r0 + n) of w (any r0; on a group boundary if w.interleaved) for a few tokens; fp8
// scales each token's x per segment of rows sharing a block-scale row.
template <class W>
inline void gemm_small(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, int64_t r0,
                       int64_t n, float* y, int64_t ldy) {
  const auto* data = static_cast<const typename W::T*>(w.data);
  if constexpr (!W::kScaled) {
    small_rows<W>(x, ldx, tokens, data + r0 * w.cols, n, w.cols, w.interleaved, y, ldy);
  } else {
    const int64_t scale_cols = (w.cols + w.block - 1) / w.block;
    float* xs = scratch(0, static_cast<size_t>(tokens * w.cols));  // [tokens, cols] scaled x
    for (int64_t i = 0; i < n;) {
      const int64_t srow = (r0 + i) / w.block;
      const int64_t end = std::min(n, (srow + 1) * w.block - r0);
      for (int64_t t = 0; t < tokens; ++t)
        scale_x(x + t * ldx, 0, w.cols, w.block_scale + srow * scale_cols, w.block,
                xs + t * w.cols);
      small_rows<W>(xs, w.cols, tokens, data + (r0 + i) * w.cols, end - i, w.cols, w.interleaved,
                    y + i, ldy);
      i = end;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// GEMM. Both operands of the micro-kernel are packed, zero-padded to whole chunks (a padded
// chunk gives fma(0, 0, acc), exactly what the GEMV's masked tail computes):
//   wp: weights [kTileRows][kBlockCols] float32 (row stride kPackLd), converted once per row
//       tile and column block;
//   xp: activations [column block][kBlockTokens][kBlockCols] (row stride kPackLd), copied once
//       per token block (fp8: scaled, once per token block and block-scale row).
// Copying x matters beyond alignment: with the row strides models use (multiples of 4 KiB) the
// token rows of an unpacked block all map to the same L1 sets and evict each other.
// acc: the block's vector accumulators [kBlockRows][kBlockTokens].

template <int R, int T>
inline void micro_chunks(const float* wp, const float* xp, int nchunks, F (&a)[R][T]) {
  for (int k = 0; k < nchunks; ++k) {
    F wv[R];
    DSX_UNROLL for (int r = 0; r < R; ++r) wv[r] = loadu(wp + r * kPackLd + k * kLanes);
    DSX_UNROLL for (int t = 0; t < T; ++t) {
      const F xv = loadu(xp + t * kPackLd + k * kLanes);
      DSX_UNROLL for (int r = 0; r < R; ++r) a[r][t] = fmadd(wv[r], xv, a[r][t]);
    }
  }
}

// Where a micro-kernel call sits in the column loop: the first starts the chains at zero (no
// acc to read), the last reduces them into y (no acc to write); a one-block product is both.
struct Phase {
  bool first, last;
  float* y;  // the tile's first output, y[t * ldy + r]
  int64_t ldy;
  int nrows;  // valid rows of the tile (the rest are zero padding)
};

template <int R, int T>
inline void finish(const F (&a)[R][T], const Phase& ph) {
  float sums[R * T];  // [r][t]
  hsum_many(&a[0][0], R * T, sums);
  DSX_UNROLL for (int r = 0; r < R; ++r) {
    if (r < ph.nrows) {
      DSX_UNROLL for (int t = 0; t < T; ++t) ph.y[t * ph.ldy + r] = sums[r * T + t];
    }
  }
}

// Continues each chain from acc (or from zero on the first column block); the last column block
// reduces into y instead of writing acc back.
template <int T>
inline void micro(const float* wp, const float* xp, int nchunks, F* acc, const Phase& ph) {
  constexpr int R = kTileRows;
  F a[R][T];
  DSX_UNROLL for (int r = 0; r < R; ++r) DSX_UNROLL for (int t = 0; t < T; ++t) {
    a[r][t] = ph.first ? zero() : acc[r * kBlockTokens + t];
  }
  micro_chunks<R, T>(wp, xp, nchunks, a);
  if (ph.last) return finish<R, T>(a, ph);
  DSX_UNROLL for (int r = 0; r < R; ++r) DSX_UNROLL for (int t = 0; t < T; ++t) {
    acc[r * kBlockTokens + t] = a[r][t];
  }
}

// Runs the micro-kernel for a tile of nt <= kTileTokens tokens.
template <int T = kTileTokens>
inline void micro_tokens(int nt, const float* wp, const float* xp, int nchunks, F* acc,
                         const Phase& ph) {
  if constexpr (T > 1) {
    if (nt < T) return micro_tokens<T - 1>(nt, wp, xp, nchunks, acc, ph);
  }
  micro<T>(wp, xp, nchunks, acc, ph);
}

// Packs kTileRows rows from row r0 (nrows valid, the rest zero) x kc columns from column c0 (a
// multiple of kBlockCols) of w into wp as float32.
template <class W>
inline void pack_rows(const RowLayout<typename W::T>& lay, int64_t r0, int nrows, int64_t c0,
                      int kc, float* wp) {
  using L = RowLayout<typename W::T>;
  const int full = kc / kLanes, tail = kc % kLanes;
  const int64_t k0 = c0 / kLanes, stride = lay.piece_stride(r0);
  for (int r = 0; r < kTileRows; ++r) {
    float* dst = wp + r * kPackLd;
    if (r >= nrows) {
      for (int k = 0; k < full + (tail ? 1 : 0); ++k) storeu(dst + k * kLanes, zero());
      continue;
    }
    const typename W::T* src = lay.row(r0 + r);
    int k = 0;
    if constexpr (W::kPairs) {
      for (; k + 2 <= full; k += 2) {
        F lo, hi;
        W::pair(src + L::offset(k0 + k, stride), &lo, &hi);
        storeu(dst + k * kLanes, lo);
        storeu(dst + (k + 1) * kLanes, hi);
      }
    }
    for (; k < full; ++k) storeu(dst + k * kLanes, W::chunk(src + L::offset(k0 + k, stride)));
    if (tail) storeu(dst + full * kLanes, W::partial(src + c0 + full * kLanes, tail));  // row-major
  }
}

// Copies tokens [0, tb) x all columns of x into xp as [column block][kBlockTokens][kBlockCols],
// zero-padded to whole chunks; with scale_row (fp8), multiplied as scale_x does.
inline void pack_x(const float* x, int64_t ldx, int tb, int64_t cols, const float* scale_row,
                   int64_t block, float* xp) {
  for (int64_t c0 = 0, b = 0; c0 < cols; c0 += kBlockCols, ++b) {
    const int kc = static_cast<int>(std::min<int64_t>(kBlockCols, cols - c0));
    const int full = kc / kLanes, tail = kc % kLanes;
    for (int t = 0; t < tb; ++t) {
      const float* src = x + t * ldx + c0;
      float* dst = xp + (b * kBlockTokens + t) * kPackLd;
      if (scale_row) {
        scale_x(x + t * ldx, c0, c0 + kc, scale_row, block, dst);
        if (tail) storeu(dst + full * kLanes, load_first(dst + full * kLanes, tail));
      } else {
        for (int k = 0; k < full; ++k) storeu(dst + k * kLanes, loadu(src + k * kLanes));
        if (tail) storeu(dst + full * kLanes, load_first(src + full * kLanes, tail));
      }
    }
  }
}

// Tiled GEMM over rows [r0, r0 + n) of w: y[t][i] = x[t] . w[r0 + i].
//
// Loop order: all of x is packed once per call (fp8: once per block-scale row), then for each
// block of kBlockRows rows its weights are converted once into wp, for every column block, and
// reused by every token block. So each weight is read from memory and converted once per call,
// however many tokens there are (converting per token block re-streamed the matrix from DRAM
// once per 36 tokens and cost ~10% in conversions).
template <class W>
inline void gemm_block(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, int64_t r0,
                       int64_t n, float* y, int64_t ldy) {
  const auto* data = static_cast<const typename W::T*>(w.data);
  const int64_t cols = w.cols;
  const RowLayout<typename W::T> lay(data, w.rows, cols, w.interleaved);
  const int64_t col_blocks = (cols + kBlockCols - 1) / kBlockCols;
  const int64_t scale_cols = W::kScaled ? (cols + w.block - 1) / w.block : 0;
  const int64_t token_blocks = (tokens + kBlockTokens - 1) / kBlockTokens;
  const int64_t xblock = col_blocks * kBlockTokens * kPackLd;  // one token block of xp
  // xp: [token block][column block][kBlockTokens][kBlockCols]; wp: [tile][column block]
  // [kTileRows][kBlockCols] for the current row block.
  float* xp = scratch(1, static_cast<size_t>(token_blocks * xblock));
  constexpr int kTiles = kBlockRows / kTileRows;
  const int64_t wtile = col_blocks * kTileRows * kPackLd;
  float* wp = scratch(2, static_cast<size_t>(kTiles * wtile));
  alignas(64) F acc[kBlockRows * kBlockTokens];  // [kBlockRows][kBlockTokens] vectors
  auto pack_all_x = [&](const float* scale_row) {
    for (int64_t tb = 0; tb < token_blocks; ++tb) {
      const int64_t t0 = tb * kBlockTokens;
      const int nt = static_cast<int>(std::min<int64_t>(kBlockTokens, tokens - t0));
      pack_x(x + t0 * ldx, ldx, nt, cols, scale_row, w.block, xp + tb * xblock);
    }
  };
  if constexpr (!W::kScaled) pack_all_x(nullptr);
  int64_t packed_srow = -1;  // fp8: the block-scale row xp is scaled for
  for (int64_t rb = 0; rb < n;) {
    int64_t rb_end = std::min(n, rb + kBlockRows);
    if constexpr (W::kScaled) {  // a row block never straddles two block-scale rows
      const int64_t srow = (r0 + rb) / w.block;
      rb_end = std::min(rb_end, (srow + 1) * w.block - r0);
      if (srow != packed_srow) {
        pack_all_x(w.block_scale + srow * scale_cols);
        packed_srow = srow;
      }
    }
    const int nrb = static_cast<int>(rb_end - rb);
    const int tiles = (nrb + kTileRows - 1) / kTileRows;
    for (int tile = 0; tile < tiles; ++tile) {
      const int64_t row = r0 + rb + tile * kTileRows;
      const int nrows = std::min(kTileRows, nrb - tile * kTileRows);
      for (int64_t c0 = 0, b = 0; c0 < cols; c0 += kBlockCols, ++b) {
        const int kc = static_cast<int>(std::min<int64_t>(kBlockCols, cols - c0));
        pack_rows<W>(lay, row, nrows, c0, kc, wp + tile * wtile + b * kTileRows * kPackLd);
      }
    }
    // The next row block's weights stream in while this one computes.
    const int64_t next_rows = std::min<int64_t>(kBlockRows, n - rb_end);
    const char* next = reinterpret_cast<const char*>(data + (r0 + rb_end) * cols);
    const int64_t next_bytes = next_rows * cols * static_cast<int64_t>(sizeof(typename W::T));
    int64_t prefetched = 0;
    // One prefetch step per micro-kernel call, so the requests spread evenly over the compute.
    const int64_t steps = col_blocks * ((tokens + kTileTokens - 1) / kTileTokens) * tiles;
    const int64_t per_step = (next_bytes + steps - 1) / std::max<int64_t>(1, steps);
    for (int64_t tb = 0; tb < token_blocks; ++tb) {
      const int64_t t0 = tb * kBlockTokens;
      const int nt = static_cast<int>(std::min<int64_t>(kBlockTokens, tokens - t0));
      for (int64_t c0 = 0, b = 0; c0 < cols; c0 += kBlockCols, ++b) {
        const int kc = static_cast<int>(std::min<int64_t>(kBlockCols, cols - c0));
        const int nchunks = (kc + kLanes - 1) / kLanes;
        const float* xb = xp + tb * xblock + b * kBlockTokens * kPackLd;
        // Token tiles outer, row tiles inner: a token tile's x (kTileTokens rows of the block)
        // stays in L1 while every row tile's packed weights stream past it from L2.
        for (int tt = 0; tt < nt; tt += kTileTokens) {
          for (int tile = 0; tile < tiles; ++tile) {
            for (int64_t e = std::min(next_bytes, prefetched + per_step); prefetched < e;
                 prefetched += 64)
              _mm_prefetch(next + prefetched, _MM_HINT_T1);
            const float* wt = wp + tile * wtile + b * kTileRows * kPackLd;
            const int nrows = std::min(kTileRows, nrb - tile * kTileRows);
            const Phase ph{c0 == 0, c0 + kBlockCols >= cols,
                           y + (t0 + tt) * ldy + rb + tile * kTileRows, ldy, nrows};
            micro_tokens(std::min(kTileTokens, nt - tt), wt, xb + tt * kPackLd, nchunks,
                         acc + tile * kTileRows * kBlockTokens + tt, ph);
          }
        }
      }
    }
    rb = rb_end;
  }
}

// Tokens in super-blocks whose packed x fits in about half of a core's L2 (it is read again for
// every row block), each a gemm_block.
constexpr int64_t kPackedXBytes = 1 << 20;
template <class W>
inline void gemm(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, int64_t r0,
                 int64_t n, float* y, int64_t ldy) {
  const int64_t row_bytes = (w.cols + kBlockCols - 1) / kBlockCols * kPackLd * 4;
  const int64_t blocks = std::max<int64_t>(1, kPackedXBytes / (row_bytes * kBlockTokens));
  const int64_t super = blocks * kBlockTokens;
  for (int64_t t0 = 0; t0 < tokens; t0 += super)
    gemm_block<W>(x + t0 * ldx, ldx, std::min(super, tokens - t0), w, r0, n, y + t0 * ldy, ldy);
}

// Entry for one weight type: GEMV when there is one token, the tiled GEMM otherwise.
template <class W>
inline void matmul_any(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, int64_t r0,
                       int64_t n, float* y, int64_t ldy) {
  if (tokens == 1) {
    gemv<W>(x, w, r0, n, y);
  } else if (tokens <= small_tokens_max<W>()) {
    gemm_small<W>(x, ldx, tokens, w, r0, n, y, ldy);
  } else {
    gemm<W>(x, ldx, tokens, w, r0, n, y, ldy);
  }
}
