// matmul of bf16 and fp8 block weights with Intel AMX (Backend::Amx), for every token count from
// decode's one up, with the weights row-major (a mapped checkpoint) or tiled (WeightView::tiled).
//
// Why one kernel for every token count: AMX's float32 sums are its own (measured: they match no
// chain of VDPBF16PS or FMA steps), so batch invariance (ops.h) holds only if a row's product runs
// through the same tiles whether it is alone or among a prompt's. That costs bf16 decode nothing:
// a single token streams the weights as fast as the AVX-512 GEMV does, and 16 tokens nearly as
// fast, where the float32 kernels fall to a third of the bandwidth. fp8 at one token pays for
// decoding each tile before its load, and still decodes level with the AVX-512 kernels
// (docs/performance.md).
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
// How far ahead in a group's weights a pass that reads them from memory requests them, in bytes of
// the group (past its end, the group the next pass takes in its place): 2 bf16 tiles, 4 tiles of
// fp8 codes. fp8 at 2 tiles (1 KiB) ran its one-token passes ~10 % slower (o_proj 93 against
// 83-85 us, the experts' down 105-107 against 94-95); 6 and 8 were slower than 4; bf16 at 4
// tiles slowed the head by 2-3 %.
constexpr int64_t kPrefetchBytes = 2048;
constexpr int64_t kTileBf16Bytes = kRows * kTileCols * 2;  // 1 KiB
constexpr int64_t kTileFp8Bytes = kRows * kTileCols;       // 512 B of codes

// One group's accumulator tile as stored: [16 rows][m tokens] float32, m the block's tokens.
struct alignas(64) GroupSums {
  float v[kRows * kBlockTokens];
};

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Loads the tile shapes for m tokens a tile, unless they are loaded (configured: the m loaded, 0
// for none).
void configure(int64_t m, int64_t& configured) {
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

// Where the activation tiles of a block of n tokens starting at token t0 are, in words (a word
// being a bf16 pair): the block at t0 * 3 * tiles * 16, [part][tile][pair][n tokens]; so a tile is
// 16 rows of 4n bytes, and one token's tiles take 64 bytes, not a row of 16 slots each.
inline int64_t block_offset(int64_t t0, int64_t tiles) {
  return t0 * 3 * tiles * kPairs;
}

// The activation tiles of tokens [0, m) (m <= kPackTokens), by blocks of kBlockTokens.
void pack_x(const float* x, int64_t ldx, int64_t m, int64_t cols, uint32_t* xp) {
  const int64_t tiles = cols / kTileCols;
  __m512i rows[3][16];
  for (int64_t t0 = 0; t0 < m; t0 += kBlockTokens) {
    const int64_t n = std::min(kBlockTokens, m - t0);
    const auto mask = static_cast<__mmask16>((1u << n) - 1u);
    uint32_t* block = xp + block_offset(t0, tiles);
    const int64_t part_words = tiles * kPairs * n;
    for (int64_t c = 0; c < cols; c += kTileCols) {
      for (int64_t t = 0; t < kBlockTokens; ++t) {
        if (t < n) {
          split32(x + (t0 + t) * ldx + c, &rows[0][t], &rows[1][t], &rows[2][t]);
        } else {
          rows[0][t] = rows[1][t] = rows[2][t] = _mm512_setzero_si512();
        }
      }
      uint32_t* tile = block + c / kTileCols * kPairs * n;
      for (int p = 0; p < 3; ++p) {
        if (n == 1) {  // one token: its 16 pairs are the tile's 16 rows of one word
          _mm512_storeu_si512(tile + p * part_words, rows[p][0]);
          continue;
        }
        transpose16(rows[p]);
        for (int64_t j = 0; j < kPairs; ++j)
          _mm512_mask_storeu_epi32(tile + p * part_words + j * n, mask, rows[p][j]);
      }
    }
  }
}

// Where one group's weight tiles are: bf16 tile kb at base + kb * step, its rows `stride` bytes
// apart. fp8 decoded as a pass goes: codes of tile kb at codes + kb * code_step, rows code_stride
// apart (tiled: paired rows, see decode_fp8_pair); tile kb is decoded into the half kb % 2 of the
// 2 KiB at base one tile before its load (a tile load right after the stores that wrote it waits
// for them to drain).
struct GroupTiles {
  const uint8_t* base = nullptr;
  int64_t step = 0, stride = 0;
  const uint8_t* codes = nullptr;
  int64_t code_step = 0, code_stride = 0;
  bool paired = false;               // fp8 codes in the tile layout's row pairs
  int64_t first = 0, rows = 0;       // its rows of the band: [first, first + rows)
  const float* scale_row = nullptr;  // fp8: the block-scale row
  bool stream = false;               // read from memory: worth requesting ahead
  const uint8_t* next = nullptr;     // stream: the group the next pass reads in this one's place
};

// fp8 code -> bf16 of q * 2^-8, by table: the low and the high byte of the bf16 for each
// magnitude code (0..127), which the sign bit completes. q * 2^-8 is what the f16 route of the
// vector kernels decodes (simd.h, DSX_FP8_F16_MASK); its bf16 is exact, as q has 4 significant
// bits.
struct alignas(64) Fp8Bytes {
  uint8_t lo[128], hi[128];
  uint8_t order[64];  // codes of two rows reordered so that byte unpacking leaves words in order
  uint8_t paired_order[64];  // the same from a row pair of the tile layout (bytes a0 b0 a1 b1 ...)
};
const Fp8Bytes& fp8_bytes() {
  static const Fp8Bytes table = [] {
    Fp8Bytes t;
    for (int i = 0; i < 128; ++i) {
      const uint16_t bits = f32_to_bf16(f16_to_f32(static_cast<uint16_t>(i << 7)));
      t.lo[i] = static_cast<uint8_t>(bits & 0xff);
      t.hi[i] = static_cast<uint8_t>(bits >> 8);
    }
    // unpacklo/hi_epi8 interleave within 128-bit lanes: lane L of the low result takes bytes
    // 16L..16L+7, of the high one 16L+8..16L+15. Words 0..31 (the first row) go to the low result.
    for (int lane = 0; lane < 4; ++lane)
      for (int j = 0; j < 8; ++j) {
        t.order[lane * 16 + j] = static_cast<uint8_t>(lane * 8 + j);
        t.order[lane * 16 + 8 + j] = static_cast<uint8_t>(32 + lane * 8 + j);
      }
    // In a row pair, code c of the first row is byte 2c, of the second byte 2c + 1.
    for (int j = 0; j < 64; ++j) {
      const int k = t.order[j];
      t.paired_order[j] = static_cast<uint8_t>(k < 32 ? 2 * k : 2 * (k - 32) + 1);
    }
    return t;
  }();
  return table;
}

// 64 codes, reordered by `order` into two rows -> 64 bf16 at dst (the first row's then the
// second's), by table.
inline void decode_fp8_table(__m512i both, const uint8_t* order, uint16_t* dst, const Fp8Bytes& t) {
  const __m512i codes = _mm512_permutexvar_epi8(_mm512_load_si512(order), both);
  const __m512i lo =
      _mm512_permutex2var_epi8(_mm512_load_si512(t.lo), codes, _mm512_load_si512(t.lo + 64));
  __m512i hi =
      _mm512_permutex2var_epi8(_mm512_load_si512(t.hi), codes, _mm512_load_si512(t.hi + 64));
  hi = _mm512_ternarylogic_epi32(hi, codes, _mm512_set1_epi8(static_cast<char>(0x80)), 0xf8);
  _mm512_storeu_si512(dst, _mm512_unpacklo_epi8(lo, hi));
  _mm512_storeu_si512(dst + 32, _mm512_unpackhi_epi8(lo, hi));
}

// Two rows of 32 fp8 codes (a, b), row-major -> 64 bf16 at dst (a's then b's).
inline void decode_fp8_rows(const uint8_t* a, const uint8_t* b, uint16_t* dst, const Fp8Bytes& t) {
  const __m512i both = _mm512_inserti64x4(
      _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a))),
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)), 1);
  decode_fp8_table(both, t.order, dst, t);
}

// A row pair of the tile layout (64 bytes: code c of the first row at 2c, of the second at 2c + 1)
// -> 64 bf16 at dst (the first row's then the second's). For a code of exponent field e > 0 the
// bf16 of q * 2^-8 is sign << 15 | (e + 112) << 7 | mantissa << 4, and 112 << 7 shares no bit with
// e << 7 (e < 16): so, with the code in a word's high byte, an arithmetic shift right by 4 and one
// bitwise step give it, without the shuffle port the table needs. Codes of e = 0 (zeros and
// subnormals, rare in trained weights) take the table, the whole pair at once: the same bits.
inline void decode_fp8_pair(const uint8_t* pair, uint16_t* dst, const Fp8Bytes& t) {
  const __m512i v = _mm512_loadu_si512(pair);
  if (_mm512_testn_epi8_mask(v, _mm512_set1_epi8(0x78)) != 0)
    return decode_fp8_table(v, t.paired_order, dst, t);
  const __m512i keep = _mm512_set1_epi16(static_cast<short>(0x87f0));  // sign, e, mantissa
  const __m512i bias = _mm512_set1_epi16(0x3800);                      // 112 << 7
  // (a & keep) | bias: 0xea is (A & B) | C.
  const __m512i first =
      _mm512_ternarylogic_epi32(_mm512_srai_epi16(_mm512_slli_epi16(v, 8), 4), keep, bias, 0xea);
  const __m512i second = _mm512_ternarylogic_epi32(_mm512_srai_epi16(v, 4), keep, bias, 0xea);
  _mm512_storeu_si512(dst, first);
  _mm512_storeu_si512(dst + 32, second);
}

// Decodes fp8 tile kb of a group into its half of the group's buffer; returns that half.
inline const uint8_t* decode_tile(const GroupTiles& g, int64_t kb) {
  const uint8_t* codes = g.codes + kb * g.code_step;
  const uint8_t* half = g.base + kb % 2 * kTileBf16Bytes;
  auto* out = reinterpret_cast<uint16_t*>(const_cast<uint8_t*>(half));
  const Fp8Bytes& t = fp8_bytes();
  for (int64_t r = 0; r < kRows; r += 2) {
    if (g.paired) {
      decode_fp8_pair(codes + r * kTileCols, out + r * kTileCols, t);
    } else {
      decode_fp8_rows(codes + r * g.code_stride, codes + (r + 1) * g.code_stride,
                      out + r * kTileCols, t);
    }
  }
  return half;
}

// A group of the band as tiles a pass can read. bf16 whole groups are read in place. fp8 whole
// groups are decoded tile by tile as the pass goes when `one_pass` (a single token block: each
// tile is used once; the caller decodes tile 0), else decoded whole up front into `buf`; a last
// partial group is copied into `buf`, padded with zero rows (buf: tile layout, 16 x cols bf16).
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
      grp.paired = tiled;
      grp.base = reinterpret_cast<const uint8_t*>(buf), grp.step = 0, grp.stride = kTileCols * 2;
    } else {
      grp.base = src;
      grp.step = tiled ? kTileBf16Bytes : kTileCols * 2;
      grp.stride = tiled ? kTileCols * 2 : cols * 2;
    }
    return grp;
  }
  // Tile kb, row r of the source: tiled [kb][r][32] (fp8: [kb][r / 2][32][2]), row-major [r][cols].
  auto source = [&](int64_t kb, int64_t r) {
    return src + (tiled ? (kb * kRows + r) * kTileCols : r * cols + kb * kTileCols) * elem;
  };
  const Fp8Bytes& table = fp8_bytes();
  const uint8_t zeros[kTileCols] = {};  // the codes of an absent row
  for (int64_t kb = 0; kb < cols / kTileCols; ++kb) {
    uint16_t* tile = buf + kb * kRows * kTileCols;
    for (int64_t r = 0; r < kRows; r += 2) {
      uint16_t* out = tile + r * kTileCols;
      if (fp8) {
        if (tiled) {
          decode_fp8_pair(source(kb, r), out, table);
        } else {
          decode_fp8_rows(r < grp.rows ? source(kb, r) : zeros,
                          r + 1 < grp.rows ? source(kb, r + 1) : zeros, out, table);
        }
        continue;
      }
      for (int64_t i = r; i < r + 2; ++i, out += kTileCols) {
        if (i < grp.rows) {
          std::memcpy(out, source(kb, i), kTileCols * 2);
        } else {
          std::memset(out, 0, kTileCols * 2);
        }
      }
    }
  }
  grp.base = reinterpret_cast<const uint8_t*>(buf);
  grp.step = kTileBf16Bytes, grp.stride = kTileCols * 2;
  return grp;
}

// A request for the line at p into L1. As an asm statement: GCC (12, -O2) deleted every
// _mm_prefetch of this file, having judged the helpers that issue them free of effects.
inline void request_line(const void* p) {
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
}

// A load of the line at p that only brings it into L1 (the register is thrown away).
inline void touch_line(const void* p) {
  asm volatile("vmovdqu64 %0, %%zmm31" : : "m"(*static_cast<const char*>(p)) : "xmm31");
}

// How many tiles ahead a group read from memory is requested (kPrefetchBytes of it).
inline int64_t prefetch_tiles(const GroupTiles& g) {
  return kPrefetchBytes / (g.codes ? kTileFp8Bytes : kTileBf16Bytes);
}

// Where tile `ahead` of a group read from memory (of `tiles`) is, or past the group's end the
// next pass's tile in its place (nullptr if none).
inline const uint8_t* tile_ahead(const GroupTiles& g, int64_t ahead, int64_t tiles) {
  const uint8_t* base = g.codes ? g.codes : g.base;
  if (ahead >= tiles) {
    if (g.next == nullptr || ahead >= 2 * tiles) return nullptr;
    base = g.next, ahead -= tiles;
  }
  return base + ahead * (g.codes ? g.code_step : g.step);
}

// The lines of a group's tile: a tiled tile's rows are one run of bytes (bf16 16 lines, fp8
// codes 8), a row-major tile's 16 rows lie `stride` apart (a line each, or part of one).
inline bool tile_is_run(const GroupTiles& g) {
  return g.codes ? g.code_step == kRows * g.code_stride : g.step == kRows * g.stride;
}
inline int64_t tile_lines(const GroupTiles& g) {
  return tile_is_run(g) ? (g.codes ? g.code_step : g.step) / 64 : kRows;
}
inline int64_t tile_line_step(const GroupTiles& g) {
  return tile_is_run(g) ? 64 : (g.codes ? g.code_stride : g.stride);
}

// Requests the tile prefetch_tiles(g) after tile kb of a group read from memory, all its lines at
// once.
inline void request_ahead(const GroupTiles& g, int64_t kb, int64_t tiles) {
  const uint8_t* at = tile_ahead(g, kb + prefetch_tiles(g), tiles);
  if (at == nullptr) return;
  const int64_t lines = tile_lines(g), step = tile_line_step(g);
  for (int64_t i = 0; i < lines; ++i) request_line(at + i * step);
}

// bf16 tile kb of a group read from memory, before its tile load: its 16 lines loaded into L1
// by vector loads, four at a time, each four after requesting four lines of the tile
// prefetch_tiles(g) ahead (past the group's end, the next pass's). A tile load that misses waits
// for all 16 lines, and 16 requests issued together crowd the line-fill buffers: spread like
// this (as the read loop that sets the limit reads), a microbenchmark of this kernel's 4-stream
// access streamed 29-31 GB/s against 26-28. One token only: a 16-token block's step (a
// --batch 16 decode step) was ~4 % slower with it.
inline void touch_and_request(const GroupTiles& g, int64_t kb, int64_t tiles) {
  const uint8_t* tile = g.base + kb * g.step;
  const uint8_t* next = tile_ahead(g, kb + prefetch_tiles(g), tiles);
  const int64_t line = tile_line_step(g);  // bf16: a tile row is a line
  if (next == nullptr) next = tile;        // nothing ahead: request lines on their way in anyway
#pragma GCC unroll 4
  for (int64_t q = 0; q < kRows; q += 4) {
#pragma GCC unroll 4
    for (int64_t i = q; i < q + 4; ++i) request_line(next + i * line);
#pragma GCC unroll 4
    for (int64_t i = q; i < q + 4; ++i) touch_line(tile + i * line);
  }
}

// One group inside a pass: its weight tile kb against the three activation tiles.
#define DSX_GROUP_STEP(G, TC)                             \
  if constexpr (NG > G) {                                 \
    const uint8_t* tile = grp[G].base + kb * grp[G].step; \
    if (grp[G].codes) {                                   \
      if (stream) request_ahead(grp[G], kb, tiles);       \
      tile = grp[G].base + kb % 2 * kTileBf16Bytes;       \
      if (kb + 1 < tiles) decode_tile(grp[G], kb + 1);    \
    } else if (stream && grp[G].stream) {                 \
      if (n == 1) {                                       \
        touch_and_request(grp[G], kb, tiles);             \
      } else {                                            \
        request_ahead(grp[G], kb, tiles);                 \
      }                                                   \
    }                                                     \
    _tile_loadd(DSX_TW, tile, grp[G].stride);             \
    _tile_dpbf16ps(TC, DSX_TW, DSX_TX_HI);                \
    _tile_dpbf16ps(TC, DSX_TW, DSX_TX_MID);               \
    _tile_dpbf16ps(TC, DSX_TW, DSX_TX_LO);                \
  }

// The accumulators of NG groups over tiles [kb0, kb1), from zero, stored to sums[g] as
// [row][n tokens] (rows 4n bytes apart: only the n columns in use).
template <int NG>
void pass(const uint32_t* xp, int64_t n, int64_t part_words, const GroupTiles* grp, int64_t kb0,
          int64_t kb1, int64_t tiles, bool stream, GroupSums* sums) {
  _tile_zero(DSX_TC0);
  if constexpr (NG > 1) _tile_zero(DSX_TC1);
  if constexpr (NG > 2) _tile_zero(DSX_TC2);
  if constexpr (NG > 3) _tile_zero(DSX_TC3);
  for (int64_t kb = kb0; kb < kb1; ++kb) {
    const uint32_t* xt = xp + kb * kPairs * n;
    _tile_loadd(DSX_TX_HI, xt, 4 * n);
    _tile_loadd(DSX_TX_MID, xt + part_words, 4 * n);
    _tile_loadd(DSX_TX_LO, xt + 2 * part_words, 4 * n);
    DSX_GROUP_STEP(0, DSX_TC0)
    DSX_GROUP_STEP(1, DSX_TC1)
    DSX_GROUP_STEP(2, DSX_TC2)
    DSX_GROUP_STEP(3, DSX_TC3)
  }
  _tile_stored(DSX_TC0, sums[0].v, 4 * n);
  if constexpr (NG > 1) _tile_stored(DSX_TC1, sums[1].v, 4 * n);
  if constexpr (NG > 2) _tile_stored(DSX_TC2, sums[2].v, 4 * n);
  if constexpr (NG > 3) _tile_stored(DSX_TC3, sums[3].v, 4 * n);
}
#undef DSX_GROUP_STEP

void run_pass(int ng, const uint32_t* xp, int64_t n, int64_t part_words, const GroupTiles* grp,
              int64_t kb0, int64_t kb1, int64_t tiles, bool stream, GroupSums* sums) {
  switch (ng) {
    case 1:
      return pass<1>(xp, n, part_words, grp, kb0, kb1, tiles, stream, sums);
    case 2:
      return pass<2>(xp, n, part_words, grp, kb0, kb1, tiles, stream, sums);
    case 3:
      return pass<3>(xp, n, part_words, grp, kb0, kb1, tiles, stream, sums);
    default:
      return pass<4>(xp, n, part_words, grp, kb0, kb1, tiles, stream, sums);
  }
}

// Rows [first, first + rows) of tokens [0, m) of y (row stride ldy) from sums [row][m]: the rows
// as they are for one token, else one transpose and a row of outputs per token.
void write_out(const GroupSums& sums, int64_t first, int64_t rows, int64_t m, float* y,
               int64_t ldy) {
  const auto mask = static_cast<__mmask16>((1u << rows) - 1u);
  if (m == 1) {
    _mm512_mask_storeu_ps(y + first, mask, _mm512_load_ps(sums.v));
    return;
  }
  const auto token_mask = static_cast<__mmask16>((1u << m) - 1u);
  __m512i r[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_maskz_loadu_epi32(token_mask, sums.v + i * m);
  transpose16(r);
  for (int64_t t = 0; t < m; ++t)
    _mm512_mask_storeu_ps(y + t * ldy + first, mask, _mm512_castsi512_ps(r[t]));
}

}  // namespace

void matmul(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, float* y,
            int64_t ldy) {
  const int64_t cols = w.cols, tiles = cols / kTileCols;
  const bool fp8 = w.type == DType::F8_E4M3;
  const int64_t groups = (w.rows + kRows - 1) / kRows;
  const int64_t block_tiles = fp8 ? w.block / kTileCols : tiles;
  uint32_t* xp = scratch<uint32_t>(0, static_cast<size_t>(block_offset(kPackTokens, tiles)));
  // Decoded or padded groups of a pass: kPassGroups x [tiles][16][32] bf16.
  const bool any_copy = fp8 || w.rows % kRows != 0;  // fp8 decodes into it tile by tile too
  const int64_t buf_elems = std::max(kRows * cols, 2 * kRows * kTileCols);  // per group
  uint16_t* bufs =
      any_copy ? scratch<uint16_t>(1, static_cast<size_t>(kPassGroups * buf_elems)) : nullptr;
  GroupSums sums[kPassGroups];
  GroupSums acc[kPassGroups];  // fp8: the sum over scale blocks
  int64_t configured = 0;

  for (int64_t p0 = 0; p0 < tokens; p0 += kPackTokens) {
    const int64_t pt = std::min(kPackTokens, tokens - p0);
    pack_x(x + p0 * ldx, ldx, pt, cols, xp);
    for (int64_t g0 = 0; g0 < groups; g0 += kPassGroups) {
      const int ng = static_cast<int>(std::min(kPassGroups, groups - g0));
      GroupTiles grp[kPassGroups];
      for (int i = 0; i < ng; ++i) {
        uint16_t* buf = any_copy ? bufs + i * buf_elems : nullptr;  // (no arithmetic on null)
        grp[i] = prepare_group(w, g0 + i, buf, pt <= kBlockTokens);
        // The group the next pass reads in this one's place, if whole.
        const int64_t next = g0 + i + kPassGroups;
        if (grp[i].stream && (next + 1) * kRows <= w.rows)
          grp[i].next = (grp[i].codes ? grp[i].codes : grp[i].base) +
                        kPassGroups * kRows * cols * (fp8 ? 1 : 2);
      }
      if (g0 == 0) {  // the first pass: no pass before requested its tiles
        for (int i = 0; i < ng; ++i)
          for (int64_t kb = -prefetch_tiles(grp[i]); kb < 0; ++kb)
            if (grp[i].stream) request_ahead(grp[i], kb, tiles);
      }
      for (int i = 0; i < ng; ++i)  // fp8 decoded as the pass goes: its first tile now
        if (grp[i].codes) decode_tile(grp[i], 0);
      for (int64_t t0 = 0; t0 < pt; t0 += kBlockTokens) {
        const int64_t m = std::min(kBlockTokens, pt - t0);
        configure(m, configured);
        const uint32_t* xb = xp + block_offset(t0, tiles);
        const int64_t part_words = tiles * kPairs * m;
        const bool stream = t0 == 0;  // later token blocks find the weights in cache
        for (int64_t kb = 0, b = 0; kb < tiles; kb += block_tiles, ++b) {
          run_pass(ng, xb, m, part_words, grp, kb, std::min(tiles, kb + block_tiles), tiles, stream,
                   sums);
          if (!fp8) break;
          for (int i = 0; i < ng; ++i) {
            const __m512 s = _mm512_set1_ps(256.0f * grp[i].scale_row[b]);
            for (int64_t e = 0; e < kRows * m; e += 16) {  // 16 x m sums: m vectors
              const __m512 v = _mm512_load_ps(sums[i].v + e);
              _mm512_store_ps(acc[i].v + e,
                              b == 0 ? _mm512_mul_ps(v, s)
                                     : _mm512_fmadd_ps(v, s, _mm512_load_ps(acc[i].v + e)));
            }
          }
        }
        for (int i = 0; i < ng; ++i)
          write_out(fp8 ? acc[i] : sums[i], grp[i].first, grp[i].rows, m, y + (p0 + t0) * ldy, ldy);
      }
    }
  }
  // Hands the tiles back: a thread that keeps tile data makes every context switch save and
  // restore its 8 KiB, and the pool's threads sleep and wake between the forward pass's steps.
  _tile_release();
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
