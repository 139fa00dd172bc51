// Entry points: choose an implementation once per call from the CPU's features.
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/ops.h"

namespace dsx::kernels {

namespace {

// The best of the vector instruction sets, without AMX.
Backend vector_backend() {
  static const Backend best = [] {
    __builtin_cpu_init();
    // The same features the kernels are compiled for (kernels/cpu/simd.h).
    // F16C (CPUID.1:ECX bit 29) through cpuid: not every compiler's __builtin_cpu_supports
    // knows it. Every AVX2 CPU made has it; the OS support for its YMM state comes with AVX2's.
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29)) != 0;
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
    if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
      return Backend::Avx512;
    }
    if (avx2) return Backend::Avx2;
    return Backend::Reference;
  }();
  return best;
}

}  // namespace

Backend best_backend() {
  static const Backend best = amx_usable() ? Backend::Amx : vector_backend();
  return best;
}

bool amx_usable() {
  static const bool usable = [] {
    if (const char* env = std::getenv("DSX_AMX"); env && std::strcmp(env, "0") == 0) return false;
    if (vector_backend() != Backend::Avx512) return false;
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
    const bool tiles = (edx & (1u << 24)) != 0 && (edx & (1u << 22)) != 0;  // AMX-TILE, AMX-BF16
    const bool vbmi = (ecx & (1u << 1)) != 0;  // AVX512_VBMI: the fp8 decode's byte tables
    if (!__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) return false;
    const bool avx512_bf16 = (eax & (1u << 5)) != 0;
    if (!tiles || !vbmi || !avx512_bf16) return false;
      // Linux hands out the 8 KiB tile state only on request (once per process, for all its
      // threads): ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA.
#if defined(__linux__) && defined(SYS_arch_prctl)
    constexpr int kReqXcompPerm = 0x1023, kXtileData = 18;
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXtileData) == 0;
#else
    return false;
#endif
  }();
  return usable;
}

const char* backend_name(Backend b) {
  switch (b) {
    case Backend::Amx:
      return "amx";
    case Backend::Avx512:
      return "avx512";
    case Backend::Avx2:
      return "avx2";
    default:
      return "reference";
  }
}

namespace {

// Rows handed out together: a whole fp8 scale block (bands must start on one), else 16 rows so
// SIMD kernels can tile them.
int64_t row_group(const WeightView& w) {
  return w.type == DType::F8_E4M3 ? w.block : 16;
}

// Multiply-adds of a job: what its bands are balanced by.
double job_work(const MatmulJob& job) {
  return static_cast<double>(job.w.rows) * static_cast<double>(job.w.cols) *
         static_cast<double>(std::max<int64_t>(job.tokens, 0));
}

// Rows per band of a job with several tokens (GEMM). Bands are handed out as threads become
// free; about four per thread over all the jobs, each job's share by its work, at least one.
// Every band packs the job's activations again, so a small job (an expert's tokens) stays whole.
int64_t band_rows(const MatmulJob& job, int threads, double total_work) {
  const int64_t group = row_group(job.w);
  const double share = total_work > 0 ? job_work(job) / total_work : 1.0;
  const int64_t bands = std::max<int64_t>(1, static_cast<int64_t>(4.0 * threads * share + 0.5));
  const int64_t rows = (job.w.rows + bands - 1) / bands;
  return std::max(group, (rows + group - 1) / group * group);
}

int64_t weight_bytes(const MatmulJob& job) {
  return job.w.rows * job.w.cols * dtype_size(job.w.type);
}

// Requests the first ~16 KiB a kernel reads of rows [r0, ...) of a job's weights: the start of
// the rows, or of a tiled matrix the first tiles of the 4 groups an AMX pass reads side by side.
void prefetch_head(const MatmulJob& job, int64_t r0) {
  const int64_t row_bytes = job.w.cols * dtype_size(job.w.type);
  const char* begin = static_cast<const char*>(job.w.data) + r0 * row_bytes;
  const int64_t bytes = std::min<int64_t>(16 << 10, (job.w.rows - r0) * row_bytes);
  if (job.w.tiled) {
    const int64_t group_bytes = kTileGroupRows * row_bytes;
    for (int64_t g = 0; g < 4 && g * group_bytes < bytes; ++g)
      for (int64_t b = 0; b < std::min<int64_t>(4 << 10, group_bytes); b += 64)
        _mm_prefetch(begin + g * group_bytes + b, _MM_HINT_T1);
    return;
  }
  for (int64_t b = 0; b < bytes; b += 64) _mm_prefetch(begin + b, _MM_HINT_T1);
}

// Rows [r0, r1) of one job (r0 on a row-group boundary).
void run_band(const MatmulJob& job, int64_t r0, int64_t r1, Backend backend) {
  cpu::matmul_rows(job.x, job.ldx, job.tokens, row_band(job.w, r0, r1 - r0), job.y + r0, job.ldy,
                   backend);
}

// Where a piece of a gemv begins: a (job, row) pair, the row on a row-group boundary.
struct GemvCut {
  size_t job;
  int64_t row;
};

// The cut at or after `target` bytes into all the jobs' weights: the first row group boundary
// there, or past a job's end the next job's start (jobs.size() at the very end).
GemvCut cut_at(std::span<const MatmulJob> jobs, int64_t target) {
  for (size_t j = 0; j < jobs.size(); ++j) {
    const int64_t bytes = weight_bytes(jobs[j]);
    if (target < bytes) {
      const int64_t row_bytes = bytes / jobs[j].w.rows, group = row_group(jobs[j].w);
      const int64_t row = (target / row_bytes + group - 1) / group * group;
      if (row < jobs[j].w.rows) return {j, row};
      target = 0;  // rounds past this job's end: the next job's start
      continue;
    }
    target -= bytes;
  }
  return {jobs.size(), 0};
}

// The pieces [from, to) of the jobs' weights, in job order.
void run_pieces(std::span<const MatmulJob> jobs, GemvCut from, GemvCut to, Backend backend) {
  size_t j = from.job;
  int64_t r = from.row;
  while (j < to.job || (j == to.job && r < to.row)) {
    const int64_t stop = j == to.job ? to.row : jobs[j].w.rows;
    size_t nj = j + 1;  // the piece after this one
    while (nj < jobs.size() && nj <= to.job && jobs[nj].w.rows == 0) ++nj;
    if (nj < to.job || (nj == to.job && to.row > 0)) prefetch_head(jobs[nj], 0);
    if (r < stop) run_band(jobs[j], r, stop, backend);
    j = nj, r = 0;
  }
}

// A thread's unclaimed pieces [lo, hi), in one word so that its owner (taking from the front) and
// a thief (from the back) claim with one compare-and-swap each.
struct alignas(64) PieceRange {
  std::atomic<uint64_t> lo_hi{0};
};
constexpr uint64_t pack_range(uint64_t lo, uint64_t hi) {
  return lo << 32 | hi;
}

// Claims the front (owner) or the back (thief) piece of a range; -1 if it is empty.
int64_t claim(PieceRange& range, bool front) {
  uint64_t v = range.lo_hi.load(std::memory_order_relaxed);
  for (;;) {
    const uint64_t lo = v >> 32, hi = v & 0xffffffffu;
    if (lo >= hi) return -1;
    const uint64_t next = front ? pack_range(lo + 1, hi) : pack_range(lo, hi - 1);
    if (range.lo_hi.compare_exchange_weak(v, next, std::memory_order_relaxed))
      return static_cast<int64_t>(front ? lo : hi - 1);
  }
}

// One token everywhere (decode), or a few on AMX: memory bound, and the hardware streams best over
// long linear runs. Each thread owns a contiguous share of all the jobs' weight bytes (cut on row
// groups), in job order, as pieces that halve in size towards its end; it runs them front to back,
// requesting the head of its next job before starting the current one, so a job's first rows are
// not read cold. A thread that runs out takes the last piece of the share with the most left: a
// thread delayed by the host (2 vCPUs share a machine with neighbours) no longer holds the others
// up, and what moves is small. Rows are cut on row groups either way, so the bits do not change.
void gemv_many(std::span<const MatmulJob> jobs, ThreadPool& pool, Backend backend) {
  int64_t total = 0;
  for (const MatmulJob& job : jobs) total += weight_bytes(job);
  const int threads = pool.size();
  // Piece boundaries in bytes: share t is [t, t + 1) * total / threads; from its start, pieces of
  // 1/2, 1/4, ... of it down to min_piece, then the rest. Every piece packs its jobs' activations
  // again, which costs in proportion to the tokens, so pieces grow with them.
  int64_t tokens = 1;
  for (const MatmulJob& job : jobs) tokens = std::max(tokens, job.tokens);
  const int64_t min_piece = (int64_t{32} << 10) * tokens;
  thread_local std::vector<GemvCut> cuts;  // the caller's; workers only read it
  thread_local std::vector<PieceRange> ranges;
  cuts.clear();
  if (ranges.size() < static_cast<size_t>(threads)) ranges = std::vector<PieceRange>(threads);
  for (int t = 0; t < threads; ++t) {
    const int64_t begin = total * t / threads, end = total * (t + 1) / threads;
    const uint64_t first = cuts.size();
    cuts.push_back(cut_at(jobs, begin));
    for (int64_t left = end - begin; left / 2 >= min_piece; left -= left / 2)
      cuts.push_back(cut_at(jobs, end - left + left / 2));
    ranges[t].lo_hi.store(pack_range(first, cuts.size()), std::memory_order_relaxed);
  }
  cuts.push_back(cut_at(jobs, total));
  const std::vector<GemvCut>& piece_cuts = cuts;
  std::vector<PieceRange>& piece_ranges = ranges;
  pool.parallel_for(threads, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      for (int64_t p; (p = claim(piece_ranges[t], true)) >= 0;)
        run_pieces(jobs, piece_cuts[p], piece_cuts[p + 1], backend);
    }
    for (;;) {  // the others' last pieces, the longest share first
      int victim = -1;
      uint64_t most = 0;
      for (int v = 0; v < threads; ++v) {
        const uint64_t x = piece_ranges[v].lo_hi.load(std::memory_order_relaxed);
        const uint64_t left = (x & 0xffffffffu) - std::min(x >> 32, x & 0xffffffffu);
        if (left > most) most = left, victim = v;
      }
      if (victim < 0) return;
      const int64_t p = claim(piece_ranges[victim], false);
      if (p >= 0) run_pieces(jobs, piece_cuts[p], piece_cuts[p + 1], backend);
    }
  });
}

}  // namespace

void matmul_many(std::span<const MatmulJob> jobs, ThreadPool* pool, Backend backend) {
  const int threads = pool ? pool->size() : 1;
  // gemv: every job streams its weights once, at a cost that follows their bytes: one token, or
  // on AMX up to a tile of tokens (a weight tile costs the same for 1 to 16).
  bool any = false, gemv = true;
  int64_t bytes = 0;
  for (const MatmulJob& job : jobs) {
    if (job.tokens <= 0 || job.w.rows <= 0) continue;
    any = true;
    gemv = gemv && (job.tokens == 1 || (backend == Backend::Amx && job.tokens <= kTileGroupRows &&
                                        amx_supports(job.w)));
    bytes += weight_bytes(job);
  }
  if (!any) return;
  // A GEMV this small (the MoE router's) takes less time than waking the pool.
  constexpr int64_t kInlineGemvBytes = 64 << 10;
  if (threads == 1 || (gemv && bytes <= kInlineGemvBytes)) {
    for (const MatmulJob& job : jobs)
      if (job.tokens > 0 && job.w.rows > 0) run_band(job, 0, job.w.rows, backend);
    return;
  }
  if (gemv) return gemv_many(jobs, *pool, backend);
  // Bands, largest first: threads take them in that order as they become free, so the last
  // ones to finish are small (a shared expert listed after the routed ones would otherwise end a
  // pass with one thread busy and the other idle).
  struct Band {
    double work;
    int32_t job;
    int64_t r0, r1;
  };
  thread_local std::vector<Band> bands;  // the caller's list; workers only read it
  bands.clear();
  double total_work = 0.0;
  for (const MatmulJob& job : jobs)
    if (job.tokens > 0 && job.w.rows > 0) total_work += job_work(job);
  for (size_t j = 0; j < jobs.size(); ++j) {
    const MatmulJob& job = jobs[j];
    if (job.tokens <= 0 || job.w.rows <= 0) continue;
    const int64_t rows = band_rows(job, threads, total_work);
    for (int64_t r0 = 0; r0 < job.w.rows; r0 += rows) {
      const int64_t r1 = std::min(job.w.rows, r0 + rows);
      bands.push_back({job_work(job) * static_cast<double>(r1 - r0) / job.w.rows,
                       static_cast<int32_t>(j), r0, r1});
    }
  }
  std::stable_sort(bands.begin(), bands.end(),
                   [](const Band& a, const Band& b) { return a.work > b.work; });
  const std::vector<Band>& list = bands;
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t b; (b = next.fetch_add(1, std::memory_order_relaxed)) < list.size();)
      run_band(jobs[list[b].job], list[b].r0, list[b].r1, backend);
  };
  if (list.size() == 1) return work();
  pool->parallel_for(threads, [&](int64_t, int64_t) { work(); });
}

void matmul(const float* x, int64_t ldx, int64_t tokens, const WeightView& w, float* y, int64_t ldy,
            ThreadPool* pool, Backend backend) {
  const MatmulJob job{x, ldx, tokens, w, y, ldy};
  matmul_many({&job, 1}, pool, backend);
}

float dot(const float* a, const float* b, int64_t n) {
  return dot(a, b, n, best_backend());
}

void axpy(float a, const float* x, float* y, int64_t n) {
  axpy(a, x, y, n, best_backend());
}

float dot(const float* a, const float* b, int64_t n, Backend backend) {
  if (n <= 0) return 0.0f;
  switch (backend) {
    case Backend::Amx:
    case Backend::Avx512:
      return cpu::avx512::dot(a, b, n);
    case Backend::Avx2:
      return cpu::avx2::dot(a, b, n);
    default:
      return dot_reference(a, b, n);
  }
}

void axpy(float a, const float* x, float* y, int64_t n, Backend backend) {
  if (n <= 0) return;
  switch (backend) {
    case Backend::Amx:
    case Backend::Avx512:
      return cpu::avx512::axpy(a, x, y, n);
    case Backend::Avx2:
      return cpu::avx2::axpy(a, x, y, n);
    default:
      return axpy_reference(a, x, y, n);
  }
}

void attention_scores(const float* qt, int64_t tokens, int64_t padded, int64_t dim,
                      const float* keys, int64_t key_stride, int64_t nkeys, float* s, int64_t ldt,
                      const float* next_keys, Backend backend) {
  if (tokens <= 0 || nkeys <= 0) return;
  switch (backend) {
    case Backend::Amx:
    case Backend::Avx512:
      return cpu::avx512::attention_scores(qt, tokens, padded, dim, keys, key_stride, nkeys, s, ldt,
                                           next_keys);
    case Backend::Avx2:
      return cpu::avx2::attention_scores(qt, tokens, padded, dim, keys, key_stride, nkeys, s, ldt,
                                         next_keys);
    default:
      return attention_scores_reference(qt, tokens, padded, dim, keys, key_stride, nkeys, s, ldt);
  }
}

void attention_values(const float* p, int64_t ldt, int64_t padded, int64_t tokens, int64_t heads,
                      const float* const* keys, int64_t nkeys, int64_t dim, float* o,
                      Backend backend) {
  if (tokens <= 0 || heads <= 0) return;
  switch (backend) {
    case Backend::Amx:
    case Backend::Avx512:
      return cpu::avx512::attention_values(p, ldt, padded, tokens, heads, keys, nkeys, dim, o);
    case Backend::Avx2:
      return cpu::avx2::attention_values(p, ldt, padded, tokens, heads, keys, nkeys, dim, o);
    default:
      return attention_values_reference(p, ldt, padded, tokens, heads, keys, nkeys, dim, o);
  }
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out, Backend backend) {
  if (n <= 0) return;
  switch (backend) {
    case Backend::Amx:
    case Backend::Avx512:
      return cpu::avx512::silu_mul(gate, up, n, out);
    case Backend::Avx2:
      return cpu::avx2::silu_mul(gate, up, n, out);
    default:
      return silu_mul_reference(gate, up, n, out);
  }
}

void attention_softmax(float* s, int64_t n, int64_t valid, int64_t padded, float scale, float* m,
                       float* l, Backend backend) {
  switch (backend) {
    case Backend::Amx:
    case Backend::Avx512:
      return cpu::avx512::attention_softmax(s, n, valid, padded, scale, m, l);
    case Backend::Avx2:
      return cpu::avx2::attention_softmax(s, n, valid, padded, scale, m, l);
    default:
      return attention_softmax_reference(s, n, valid, padded, scale, m, l);
  }
}

void attention_softmax_causal(float* s, int64_t n, int64_t first, int64_t padded, float scale,
                              float* l, Backend backend) {
  switch (backend) {
    case Backend::Amx:
    case Backend::Avx512:
      return cpu::avx512::attention_softmax_causal(s, n, first, padded, scale, l);
    case Backend::Avx2:
      return cpu::avx2::attention_softmax_causal(s, n, first, padded, scale, l);
    default:
      return attention_softmax_causal_reference(s, n, first, padded, scale, l);
  }
}

}  // namespace dsx::kernels
