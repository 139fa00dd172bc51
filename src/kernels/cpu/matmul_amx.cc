// matmul of bf16 and fp8 block weights with Intel AMX (Backend::Amx), for every token count from
// decode's one up, with the weights row-major (a mapped checkpoint) or tiled (WeightView::tiled).
//
// Why one kernel for every token count: AMX's float32 sums are its own (measured: they match no
// chain of VDPBF16PS or FMA steps), so batch invariance (ops.h) holds only if a row's product runs
// through the same tiles whether it is alone or among a prompt's. That costs decode nothing: a
// single token streams the weights as fast as the AVX-512 GEMV does, and 16 tokens nearly as fast,
// where the float32 kernels fall to a third of the bandwidth.
//
// THE ORDER OF OPERATIONS. Weights are the A operand (16 rows x 32 columns a tile, read with a
// stride, so row-major and tiled weights give the same bits); activations the B operand, in bf16
// pairs, 16 tokens a tile. Tiles take bf16, activations are float32, so each x is split into three
// bf16 parts: hi = bf16(x), mid = bf16(x - hi), lo = bf16(x - hi - mid) (nearest even; the rest is
// below 2^-24 |x| unless a part falls below bf16's normal range). Per output element, one
// accumulator from zero; for each 32 columns in order: += tile(hi), += tile(mid), += tile(lo).
//   bf16: y[t][r] = that accumulator over all columns.
//   fp8:  the weights enter as the exact bf16 of q * 2^-8; per scale block b of columns, in order,
//         v = the accumulator over the block's columns, s = 256 * scale[row block][b]:
//         y = v * s (first block), y = fma(v, s, y) (the others).
// Each output is one element of one accumulator tile (row = weight row, column = token), so the
// token count, the tile a token lands in, the band and the thread change nothing.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd.h"

// Tile registers: the three activation parts, one weight tile, and the accumulators of up to four
// groups of rows. Macros, not constants: GCC's tile intrinsics paste the register number into the
// instruction text.
#define DSX_TX_HI 0
#define DSX_TX_MID 1
#define DSX_TX_LO 2
#define DSX_TW 3
#define DSX_TC0 4
#define DSX_TC1 5
#define DSX_TC2 6
#define DSX_TC3 7

DSX_BEGIN_AMX
namespace dsx::kernels::cpu::amx {

namespace {

constexpr int64_t kRows = kTileGroupRows;  // weight rows per tile (a group)
constexpr int64_t kPairs = kTileCols / 2;  // column pairs per tile
constexpr int64_t kBlockTokens = 16;       // tokens per activation tile
constexpr int64_t kPassGroups = 4;         // groups sharing one load of the activation tiles
// Tokens whose packed activations are made at once: 64 x 3 parts x 1024 columns = 384 KiB stays
// in L2 while the band's groups pass over it.
constexpr int64_t kPackTokens = 64;
// How many tiles ahead in a group's weights a pass that reads them from memory requests them; past
// the group's end, the tiles of the group the next pass takes in its place.
constexpr int64_t kPrefetchTiles = 2;
constexpr int64_t kTileBf16Bytes = kRows * kTileCols * 2;  // 1 KiB

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Loads the tile shapes for m tokens a tile; a thread keeps its configuration, so this reloads
// only when m changes.
void configure(int64_t m) {
  thread_local int64_t configured = 0;
  if (configured == m) return;
  TileConfig cfg;
  const auto token_bytes = static_cast<uint16_t>(4 * m);
  for (int t : {DSX_TX_HI, DSX_TX_MID, DSX_TX_LO}) cfg.rows[t] = kPairs, cfg.colsb[t] = token_bytes;
  cfg.rows[DSX_TW] = kRows, cfg.colsb[DSX_TW] = 64;
  for (int t : {DSX_TC0, DSX_TC1, DSX_TC2, DSX_TC3})
    cfg.rows[t] = kRows, cfg.colsb[t] = token_bytes;
  _tile_loadconfig(&cfg);
  configured = m;
}

// Per-thread scratch, 64-byte aligned and grown on first use (warm calls allocate nothing).
// Slots: 0 packed activations, 1 decoded or padded weights.
template <class T>
T* scratch(int slot, size_t count) {
  thread_local std::vector<uint8_t> bufs[2];
  std::vector<uint8_t>& buf = bufs[slot];
  const size_t bytes = count * sizeof(T) + 64;
  if (buf.size() < bytes) buf.resize(bytes);
  const auto addr = reinterpret_cast<uintptr_t>(buf.data());
  return reinterpret_cast<T*>(buf.data() + (64 - addr % 64) % 64);
}

// In place: r[i][j] <- r[j][i], 16 x 16 32-bit words.
inline void transpose16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  // Rows now hold 4-word pieces in the order of a 4 x 4 transpose of 128-bit lanes to come.
  for (int i = 0; i < 16; i += 8) {
    for (int j = 0; j < 4; ++j) {
      t[i + j] = _mm512_shuffle_i32x4(r[i + j], r[i + j + 4], 0x88);
      t[i + j + 4] = _mm512_shuffle_i32x4(r[i + j], r[i + j + 4], 0xdd);
    }
  }
  for (int j = 0; j < 8; ++j) {
    r[j] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0x88);
    r[j + 8] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0xdd);
  }
}

// The first and the last 16 of 32 bf16 as float32.
inline __m512 widen_lo(__m512i v) {
  return _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(v)), 16));
}
inline __m512 widen_hi(__m512i v) {
  return _mm512_castsi512_ps(
      _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(v, 1)), 16));
}

// The three bf16 parts of 32 floats, as 16 words of pairs each.
inline void split32(const float* x, __m512i* hi, __m512i* mid, __m512i* lo) {
  const __m512 a = _mm512_loadu_ps(x), b = _mm512_loadu_ps(x + 16);
  *hi = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(b, a));
  const __m512 ra = _mm512_sub_ps(a, widen_lo(*hi)), rb = _mm512_sub_ps(b, widen_hi(*hi));
  *mid = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(rb, ra));
  const __m512 sa = _mm512_sub_ps(ra, widen_lo(*mid)), sb = _mm512_sub_ps(rb, widen_hi(*mid));
  *lo = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(sb, sa));
}

// The activation tiles of tokens [0, m) (m <= kPackTokens): xp[block][part][tile][pair][token],
// a word being a bf16 pair, 16 token slots per pair row (slots >= m hold zeros, unread).
// part_words = words per part of a block.
void pack_x(const float* x, int64_t ldx, int64_t m, int64_t cols, uint32_t* xp,
            int64_t part_words) {
  __m512i rows[3][16];
  for (int64_t t0 = 0; t0 < m; t0 += kBlockTokens) {
    const int64_t n = std::min(kBlockTokens, m - t0);
    uint32_t* block = xp + t0 / kBlockTokens * 3 * part_words;
    for (int64_t c = 0; c < cols; c += kTileCols) {
      for (int64_t t = 0; t < kBlockTokens; ++t) {
        if (t < n) {
          split32(x + (t0 + t) * ldx + c, &rows[0][t], &rows[1][t], &rows[2][t]);
        } else {
          rows[0][t] = rows[1][t] = rows[2][t] = _mm512_setzero_si512();
        }
      }
      uint32_t* tile = block + c / kTileCols * kPairs * kBlockTokens;
      for (int p = 0; p < 3; ++p) {
        transpose16(rows[p]);
        for (int64_t j = 0; j < kPairs; ++j)
          _mm512_store_si512(tile + p * part_words + j * kBlockTokens, rows[p][j]);
      }
    }
  }
}

// Where one group's weight tiles are: bf16 tile kb at base + kb * step, its rows `stride` bytes
// apart. fp8 decoded as a pass goes: codes of tile kb at codes + kb * code_step, rows code_stride
// apart; tile kb is decoded into the half kb % 2 of the 2 KiB at base one tile before its load
// (a tile load right after the stores that wrote it waits for them to drain).
struct GroupTiles {
  const uint8_t* base = nullptr;
  int64_t step = 0, stride = 0;
  const uint8_t* codes = nullptr;
  int64_t code_step = 0, code_stride = 0;
  int64_t first = 0, rows = 0;       // its rows of the band: [first, first + rows)
  const float* scale_row = nullptr;  // fp8: the block-scale row
  bool stream = false;               // read from memory: worth requesting ahead
  const uint8_t* next = nullptr;     // stream: the group the next pass reads in this one's place
};

// fp8 codes -> the bf16 of q * 2^-8, 32 at a time. The f16 bits of q * 2^-8 come from moving bits
// (simd.h, DSX_FP8_F16_MASK); f16 -> f32 -> bf16 is exact, as q has 4 significant bits.
inline void decode_fp8_32(const uint8_t* src, uint16_t* dst) {
  const __m256i codes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
  const __m512i f16 = _mm512_and_si512(_mm512_slli_epi16(_mm512_cvtepi8_epi16(codes), 7),
                                       _mm512_set1_epi16(DSX_FP8_F16_MASK));
  const __m512 a = _mm512_cvtph_ps(_mm512_castsi512_si256(f16));
  const __m512 b = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(f16, 1));
  _mm512_storeu_si512(dst, reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(b, a)));
}

// Decodes fp8 tile kb of a group into its half of the group's buffer; returns that half.
inline const uint8_t* decode_tile(const GroupTiles& g, int64_t kb) {
  const uint8_t* codes = g.codes + kb * g.code_step;
  const uint8_t* half = g.base + kb % 2 * kTileBf16Bytes;
  auto* out = reinterpret_cast<uint16_t*>(const_cast<uint8_t*>(half));
  for (int64_t r = 0; r < kRows; ++r) decode_fp8_32(codes + r * g.code_stride, out + r * kTileCols);
  return half;
}

// A group of the band as tiles a pass can read. bf16 whole groups are read in place. fp8 whole
// groups are decoded tile by tile as the pass goes when `one_pass` (a single token block: each
// tile is used once), else decoded whole up front into `buf`; a last partial group is copied
// into `buf`, padded with zero rows (buf: tile layout, 16 x cols bf16).
GroupTiles prepare_group(const WeightView& w, int64_t g, uint16_t* buf, bool one_pass) {
  const bool fp8 = w.type == DType::F8_E4M3;
  const int64_t cols = w.cols, elem = fp8 ? 1 : 2;
  GroupTiles grp;
  grp.first = g * kRows;
  grp.rows = std::min(kRows, w.rows - grp.first);
  const auto* src = static_cast<const uint8_t*>(w.data) + grp.first * cols * elem;
  const bool tiled = w.tiled && grp.rows == kRows;  // a partial group stays row-major
  if (fp8) {
    const int64_t scale_cols = (cols + w.block - 1) / w.block;
    grp.scale_row = w.block_scale + grp.first / w.block * scale_cols;
  }
  if (grp.rows == kRows && (!fp8 || one_pass)) {
    grp.stream = true;
    if (fp8) {
      grp.codes = src;
      grp.code_step = tiled ? kRows * kTileCols : kTileCols;
      grp.code_stride = tiled ? kTileCols : cols;
      grp.base = reinterpret_cast<const uint8_t*>(buf), grp.step = 0, grp.stride = kTileCols * 2;
      decode_tile(grp, 0);
    } else {
      grp.base = src;
      grp.step = tiled ? kTileBf16Bytes : kTileCols * 2;
      grp.stride = tiled ? kTileCols * 2 : cols * 2;
    }
    return grp;
  }
  // Tile kb, row r of the source: tiled [kb][r][32], row-major [r][cols].
  auto source = [&](int64_t kb, int64_t r) {
    return src + (tiled ? (kb * kRows + r) * kTileCols : r * cols + kb * kTileCols) * elem;
  };
  for (int64_t kb = 0; kb < cols / kTileCols; ++kb) {
    uint16_t* tile = buf + kb * kRows * kTileCols;
    for (int64_t r = 0; r < kRows; ++r) {
      uint16_t* out = tile + r * kTileCols;
      if (r >= grp.rows) {
        std::memset(out, 0, kTileCols * 2);
      } else if (fp8) {
        decode_fp8_32(source(kb, r), out);
      } else {
        std::memcpy(out, source(kb, r), kTileCols * 2);
      }
    }
  }
  grp.base = reinterpret_cast<const uint8_t*>(buf);
  grp.step = kTileBf16Bytes, grp.stride = kTileCols * 2;
  return grp;
}

// Requests the tile kPrefetchTiles after tile kb of a group read from memory (of `tiles`).
inline void request_ahead(const GroupTiles& g, int64_t kb, int64_t tiles) {
  int64_t ahead = kb + kPrefetchTiles;
  const uint8_t* base = g.codes ? g.codes : g.base;
  if (ahead >= tiles) {
    if (g.next == nullptr) return;
    base = g.next, ahead -= tiles;
  }
  const int64_t step = g.codes ? g.code_step : g.step, stride = g.codes ? g.code_stride : g.stride;
  const char* at = reinterpret_cast<const char*>(base + ahead * step);
  for (int64_t r = 0; r < kRows; r += stride < 64 ? 64 / stride : 1)
    _mm_prefetch(at + r * stride, _MM_HINT_T0);
}

// One group inside a pass: its weight tile kb against the three activation tiles.
#define DSX_GROUP_STEP(G, TC)                                      \
  if constexpr (NG > G) {                                          \
    const uint8_t* tile = grp[G].base + kb * grp[G].step;          \
    if (stream && grp[G].stream) request_ahead(grp[G], kb, tiles); \
    if (grp[G].codes) {                                            \
      tile = grp[G].base + kb % 2 * kTileBf16Bytes;                \
      if (kb + 1 < tiles) decode_tile(grp[G], kb + 1);             \
    }                                                              \
    _tile_loadd(DSX_TW, tile, grp[G].stride);                      \
    _tile_dpbf16ps(TC, DSX_TW, DSX_TX_HI);                         \
    _tile_dpbf16ps(TC, DSX_TW, DSX_TX_MID);                        \
    _tile_dpbf16ps(TC, DSX_TW, DSX_TX_LO);                         \
  }

// The accumulators of NG groups over tiles [kb0, kb1), from zero, stored to sums[g][row][token].
template <int NG>
void pass(const uint32_t* xp, int64_t part_words, const GroupTiles* grp, int64_t kb0, int64_t kb1,
          int64_t tiles, bool stream, float (*sums)[kRows][kBlockTokens]) {
  _tile_zero(DSX_TC0);
  if constexpr (NG > 1) _tile_zero(DSX_TC1);
  if constexpr (NG > 2) _tile_zero(DSX_TC2);
  if constexpr (NG > 3) _tile_zero(DSX_TC3);
  for (int64_t kb = kb0; kb < kb1; ++kb) {
    const uint32_t* xt = xp + kb * kPairs * kBlockTokens;
    _tile_loadd(DSX_TX_HI, xt, 64);
    _tile_loadd(DSX_TX_MID, xt + part_words, 64);
    _tile_loadd(DSX_TX_LO, xt + 2 * part_words, 64);
    DSX_GROUP_STEP(0, DSX_TC0)
    DSX_GROUP_STEP(1, DSX_TC1)
    DSX_GROUP_STEP(2, DSX_TC2)
    DSX_GROUP_STEP(3, DSX_TC3)
  }
  _tile_stored(DSX_TC0, sums[0], 64);
  if constexpr (NG > 1) _tile_stored(DSX_TC1, sums[1], 64);
  if constexpr (NG > 2) _tile_stored(DSX_TC2, sums[2], 64);
  if constexpr (NG > 3) _tile_stored(DSX_TC3, sums[3], 64);
}
#undef DSX_GROUP_STEP

void run_pass(int ng, const uint32_t* xp, int64_t part_words, const GroupTiles* grp, int64_t kb0,
              int64_t kb1, int64_t tiles, bool stream, float (*sums)[kRows][kBlockTokens]) {
  switch (ng) {
    case 1:
      return pass<1>(xp, part_words, grp, kb0, kb1, tiles, stream, sums);
    case 2:
      return pass<2>(xp, part_words, grp, kb0, kb1, tiles, stream, sums);
    case 3:
      return pass<3>(xp, part_words, grp, kb0, kb1, tiles, stream, sums);
    default:
      return pass<4>(xp, part_words, grp, kb0, kb1, tiles, stream, sums);
  }
}

// Rows [first, first + rows) of tokens [0, m) of y (row stride ldy) from sums[row][token].
void write_out(const float (*sums)[kBlockTokens], int64_t first, int64_t rows, int64_t m, float* y,
               int64_t ldy) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t t = 0; t < m; ++t) y[t * ldy + first + r] = sums[r][t];
}

}  // namespace

void matmul(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, float* y,
            int64_t ldy) {
  const int64_t cols = w.cols, tiles = cols / kTileCols;
  const bool fp8 = w.type == DType::F8_E4M3;
  const int64_t groups = (w.rows + kRows - 1) / kRows;
  const int64_t block_tiles = fp8 ? w.block / kTileCols : tiles;
  const int64_t part_words = tiles * kPairs * kBlockTokens;  // one part of one token block
  uint32_t* xp =
      scratch<uint32_t>(0, static_cast<size_t>(kPackTokens / kBlockTokens * 3 * part_words));
  // Decoded or padded groups of a pass: kPassGroups x [tiles][16][32] bf16.
  const bool any_copy = fp8 || w.rows % kRows != 0;  // fp8 decodes into it tile by tile too
  const int64_t buf_elems = std::max(kRows * cols, 2 * kRows * kTileCols);  // per group
  uint16_t* bufs =
      any_copy ? scratch<uint16_t>(1, static_cast<size_t>(kPassGroups * buf_elems)) : nullptr;
  alignas(64) float sums[kPassGroups][kRows][kBlockTokens];
  alignas(64) float acc[kPassGroups][kRows][kBlockTokens];  // fp8: the sum over scale blocks

  for (int64_t p0 = 0; p0 < tokens; p0 += kPackTokens) {
    const int64_t pt = std::min(kPackTokens, tokens - p0);
    pack_x(x + p0 * ldx, ldx, pt, cols, xp, part_words);
    for (int64_t g0 = 0; g0 < groups; g0 += kPassGroups) {
      const int ng = static_cast<int>(std::min(kPassGroups, groups - g0));
      GroupTiles grp[kPassGroups];
      for (int i = 0; i < ng; ++i) {
        grp[i] = prepare_group(w, g0 + i, bufs + i * buf_elems, pt <= kBlockTokens);
        // The group the next pass reads in this one's place, if whole.
        const int64_t next = g0 + i + kPassGroups;
        if (grp[i].stream && (next + 1) * kRows <= w.rows)
          grp[i].next = (grp[i].codes ? grp[i].codes : grp[i].base) +
                        kPassGroups * kRows * cols * (fp8 ? 1 : 2);
      }
      for (int64_t t0 = 0; t0 < pt; t0 += kBlockTokens) {
        const int64_t m = std::min(kBlockTokens, pt - t0);
        configure(m);
        const uint32_t* xb = xp + t0 / kBlockTokens * 3 * part_words;
        const bool stream = t0 == 0;  // later token blocks find the weights in cache
        for (int64_t kb = 0, b = 0; kb < tiles; kb += block_tiles, ++b) {
          run_pass(ng, xb, part_words, grp, kb, std::min(tiles, kb + block_tiles), tiles, stream,
                   sums);
          if (!fp8) break;
          for (int i = 0; i < ng; ++i) {
            const __m512 s = _mm512_set1_ps(256.0f * grp[i].scale_row[b]);
            for (int64_t r = 0; r < kRows; ++r) {
              const __m512 v = _mm512_load_ps(sums[i][r]);
              _mm512_store_ps(acc[i][r], b == 0 ? _mm512_mul_ps(v, s)
                                                : _mm512_fmadd_ps(v, s, _mm512_load_ps(acc[i][r])));
            }
          }
        }
        for (int i = 0; i < ng; ++i)
          write_out(fp8 ? acc[i] : sums[i], grp[i].first, grp[i].rows, m, y + (p0 + t0) * ldy, ldy);
      }
    }
  }
}

}  // namespace dsx::kernels::cpu::amx
DSX_END_TARGET

#undef DSX_TX_HI
#undef DSX_TX_MID
#undef DSX_TX_LO
#undef DSX_TW
#undef DSX_TC0
#undef DSX_TC1
#undef DSX_TC2
#undef DSX_TC3
