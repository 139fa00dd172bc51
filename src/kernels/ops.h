// dsx kernels: the numeric operations the forward pass is built from.
//
// Every op has a scalar reference (kernels/reference/, the numerical ground truth) and may have
// SIMD versions (kernels/cpu/) chosen at run time from the CPU's features, only here at the entry
// points. Determinism contract: each output element is computed by one thread in an order that
// depends only on the op's inner dimension — never on the thread count, on how many rows or tokens
// are in the batch, or on which other rows share it. So results are bit-identical for any number
// of threads and any batch composition.
#pragma once

#include <cstdint>
#include <span>

#include "core/core.h"

namespace dsx::kernels {

// Rows per group and bytes per piece of the interleaved layout (WeightView::interleaved).
constexpr int64_t kInterleaveRows = 8;
constexpr int64_t kInterleaveBytes = 64;

// Rows per group and columns per tile of the AMX tile layout (WeightView::tiled).
constexpr int64_t kTileGroupRows = 16;
constexpr int64_t kTileCols = 32;

// A stored weight matrix [rows, cols], used in place (memory-mapped or copied).
struct WeightView {
  DType type = DType::F32;  // F32, BF16, F16 or F8_E4M3
  const void* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  // F8_E4M3 only: float32 [ceil(rows/block), ceil(cols/block)]; w[r][c] = q[r][c] *
  // scale[r/block][c/block].
  const float* block_scale = nullptr;
  int64_t block = 128;
  // Layout of data. false: row-major. true (interleave_rows): rows in groups of kInterleaveRows;
  // a whole group stores its rows' kInterleaveBytes pieces side by side, [cols / piece][8 rows]
  // [piece], so a pass over the group's rows reads one linear run instead of 8 streams; the rows
  // of a last, partial group stay row-major. A group occupies the bytes its rows would row-major,
  // so a band of rows that starts on a group boundary starts at the same offset either way.
  bool interleaved = false;
  // Layout of data, BF16 and F8_E4M3 only (tile_rows; never together with interleaved): rows in
  // groups of kTileGroupRows; a group stores, for every kTileCols columns in order, one AMX
  // weight tile [16 rows][32 columns] (1 KiB of bf16, 512 B of fp8; fp8 tiles store each pair of
  // rows byte by byte, [8 pairs][32 columns][2 rows]), so the tiles of a group are one linear run.
  // The rows of a last, partial group stay row-major; a group occupies the bytes its rows would
  // row-major, as interleaved.
  bool tiled = false;

  // Element (r, c) as float32 (slow; for reference code and tests).
  float at(int64_t r, int64_t c) const;
};

// Whether w can take the interleaved layout: a row of whole pieces, at least one whole group,
// and (fp8) scale blocks of whole groups.
bool can_interleave(const WeightView& w);
// Rewrites w's row-major data (at `data`, the writable address of w.data) in the interleaved
// layout, group by group in place, and sets w.interleaved. Requires can_interleave(w).
void interleave_rows(WeightView& w, void* data);

// Whether the CPU has AMX (bf16 tiles) and AVX-512 BF16 and the OS lets this process use the
// tiles (asked once, on the first call). DSX_AMX=0 in the environment answers no. When true,
// best_backend() is Backend::Amx. Only AMX reads tiled matrices, so lay them out only then.
bool amx_usable();
// Whether Backend::Amx multiplies w on AMX tiles (else with the AVX-512 kernels): BF16, or
// F8_E4M3 with scale blocks a multiple of kTileCols; columns a multiple of kTileCols; row-major
// or tiled.
bool amx_supports(const WeightView& w);
// Whether w can take the tile layout: BF16 or F8_E4M3 (scale blocks a multiple of kTileCols),
// at least one whole group, columns a multiple of kTileCols, not laid out yet.
bool can_tile(const WeightView& w);
// Rewrites w's row-major data (at `data`, the writable address of w.data) in the tile layout,
// group by group in place, and sets w.tiled. Requires can_tile(w).
void tile_rows(WeightView& w, void* data);

// Rows [r0, r0 + rows) of w as a matrix of their own, in place. Throws Error unless the band
// keeps w's layout whole: r0 on a group boundary and whole groups (or w's last rows) if
// interleaved or tiled, r0 on a scale-block boundary if fp8.
WeightView row_band(const WeightView& w, int64_t r0, int64_t rows);

// Which implementation the entry points use: the best the CPU supports, or the scalar reference.
// Amx is Avx512 with bf16 and fp8 matmuls on AMX tiles (amx_supports); ordered, so
// `backend >= Backend::Avx512` asks for the AVX-512 kernels.
enum class Backend { Reference, Avx2, Avx512, Amx };
Backend best_backend();
const char* backend_name(Backend b);

// y[t][r] = sum_c x[t][c] * w[r][c]   for t < tokens, r < w.rows.
// x: float32 [tokens, w.cols] with row stride ldx; y: float32 [tokens, w.rows] with row stride ldy.
// Backend::Amx multiplies bf16 and fp8 weights (row-major or tiled, columns a multiple of
// kTileCols; amx_supports) with AMX tiles in its own order (kernels/cpu/matmul_amx.cc): x[t] is
// split into three bf16 parts and one float32 accumulator per output adds their products 32
// columns at a time. A result still depends only on x[t] and w[r], never on the token, band or
// thread count, but it is not the SIMD float32 chain's bits.
void matmul(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, float* y, int64_t ldy,
            ThreadPool* pool, Backend backend = best_backend());

// One of several independent products run together by matmul_many: y[t][r] = x[t] . w[r].
struct MatmulJob {
  const float* x = nullptr;  // [tokens, w.cols], row stride ldx
  int64_t ldx = 0;
  int64_t tokens = 0;
  WeightView w;
  float* y = nullptr;  // [tokens, w.rows], row stride ldy
  int64_t ldy = 0;
};

// Runs every job in one pass of the pool: the jobs' row bands are handed out to threads as they
// become free (one pool dispatch however many jobs, and no thread idles while another still has
// a long band). Each output is computed whole by one thread in matmul's order, so the results are
// those of calling matmul per job, whatever the thread count or the order bands are taken in.
void matmul_many(std::span<const MatmulJob> jobs, ThreadPool* pool,
                 Backend backend = best_backend());

// The scalar reference for matmul (single thread). Same contract.
void matmul_reference(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, float* y,
                      int64_t ldy);

// sum_i a[i] * b[i]; the reduction order depends only on n.
float dot(const float* a, const float* b, int64_t n);

// y[i] += a * x[i]
void axpy(float a, const float* x, float* y, int64_t n);

// Scalar references of dot and axpy.
float dot_reference(const float* a, const float* b, int64_t n);
void axpy_reference(float a, const float* x, float* y, int64_t n);

// The same ops with an explicit backend (Backend::Reference runs the scalar reference); dot and
// axpy above use best_backend(). Each output is computed in an order that depends only on n.
float dot(const float* a, const float* b, int64_t n, Backend backend);
void axpy(float a, const float* x, float* y, int64_t n, Backend backend);

// Latent attention building blocks (model/latent_attention.cc). Query rows sit in vector lanes: the
// queries of one token (its heads) are stored transposed and padded, qt[t][d][p] for p < padded (a
// multiple of 16; lanes >= heads are zero), so a score is one FMA chain per lane over d in order
// and softmax statistics are plain lane-wise vector ops. Keys are a run of `nkeys` cache rows
// with row stride `key_stride` floats (one block of the paged cache).
//
// s[t][j][p] = sum_{d < dim, in order} qt[t][d][p] * keys[j][d]   for t < tokens, j < nkeys.
// qt: [tokens, dim, padded]; s: row j of token t at s + t * ldt + j * padded. next_keys: the
// first row of the run the caller scores next (same stride), or nullptr; the SIMD kernels request
// it while they score this run's last keys. A hint only: it changes no result.
void attention_scores(const float* qt, int64_t tokens, int64_t padded, int64_t dim,
                      const float* keys, int64_t key_stride, int64_t nkeys, float* s, int64_t ldt,
                      const float* next_keys = nullptr, Backend backend = best_backend());
// o[t][h][c] = sum_{j < nkeys, in order} p[t][j][h] * keys[j][c]   for h < heads, c < dim
// (one chain from 0; o is overwritten). keys[j]: a pointer to key row j (rows of a chunk may lie
// in different cache blocks). p: as s above (weights in lanes); o: [tokens, heads, dim].
void attention_values(const float* p, int64_t ldt, int64_t padded, int64_t tokens, int64_t heads,
                      const float* const* keys, int64_t nkeys, int64_t dim, float* o,
                      Backend backend = best_backend());

// Softmax statistics of a chunk of scores s ([n, padded], lanes = query rows), in place: per
// lane p, over keys j < valid: s[j][p] *= scale; m[p] = max_j s[j][p]; s[j][p] = exp(s[j][p] -
// m[p]); l[p] = sum_j s[j][p] (j in order). Keys valid <= j < n become 0; with valid == 0,
// m = -inf and l = 0. SIMD backends use their own exp, within a few ulp of std::exp.
void attention_softmax(float* s, int64_t n, int64_t valid, int64_t padded, float scale, float* m,
                       float* l, Backend backend = best_backend());

// The causal form of attention_softmax for lanes that are consecutive query rows (the expanded
// form of MLA, model/expanded_attention.cc): lane p attends keys j < min(n, first + p), so each
// lane's valid keys end one later than the lane before. Per lane, over its valid keys: s *= scale,
// m = max, s = exp(s - m), l[p] = sum in order; its other keys become 0. first >= 1.
void attention_softmax_causal(float* s, int64_t n, int64_t first, int64_t padded, float scale,
                              float* l, Backend backend = best_backend());

// Scalar references of the four above (single thread, same contracts; scores and values give
// the same bits as the SIMD kernels, the softmaxes differ only by their exp).
void attention_scores_reference(const float* qt, int64_t tokens, int64_t padded, int64_t dim,
                                const float* keys, int64_t key_stride, int64_t nkeys, float* s,
                                int64_t ldt);
void attention_values_reference(const float* p, int64_t ldt, int64_t padded, int64_t tokens,
                                int64_t heads, const float* const* keys, int64_t nkeys, int64_t dim,
                                float* o);
void attention_softmax_reference(float* s, int64_t n, int64_t valid, int64_t padded, float scale,
                                 float* m, float* l);
void attention_softmax_causal_reference(float* s, int64_t n, int64_t first, int64_t padded,
                                        float scale, float* l);

// Machine limits for `dsx bench` (kernels/machine.cc). Streaming read bandwidth in GB/s (1e9
// bytes/s) over a buffer several times the last-level cache, all pool threads, best of a few
// passes (~0.5 s). Float32 FMA peak in GFLOP/s from independent register FMA chains on all pool
// threads, with the widest vectors the CPU has (~0.2 s).
double measure_read_bandwidth_gbs(ThreadPool* pool);
double measure_fma_peak_gflops(ThreadPool* pool);

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i], accumulated in float32 (double for the sum).
// weight: F32 or BF16 vector of length n.
void rmsnorm(const float* x, const WeightView& weight, float eps, int64_t n, float* out);

// out[i] = silu(gate[i]) * up[i]. SIMD backends use their own exp (within a few ulp of the
// reference's std::exp); out may alias gate.
void silu_mul(const float* gate, const float* up, int64_t n, float* out,
              Backend backend = best_backend());
void silu_mul_reference(const float* gate, const float* up, int64_t n, float* out);

// In-place softmax over n values, float32 with the max subtracted.
void softmax(float* x, int64_t n);

// Loads n elements of a stored vector (F32/BF16/F16) at element offset `offset` as float32.
void load_row(const WeightView& w, int64_t row, float* out);

}  // namespace dsx::kernels
