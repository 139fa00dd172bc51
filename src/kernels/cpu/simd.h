// Vector building blocks for the x86 kernels: one namespace per instruction set (avx2, avx512)
// with the same names in each, so a kernel is written once and compiled once per set.
//
// Why regions rather than per-function attributes: GCC and Clang refuse to inline an intrinsic
// wrapper into a function compiled for a lesser target, and a template cannot take its target from
// a template parameter. So every function defined between DSX_BEGIN_AVX2 / DSX_BEGIN_AVX512 and
// DSX_END_TARGET gets that target, and shared kernel text (matmul_tiling.h) is included inside
// each region. Nothing here runs unless dispatch.cc found the features at run time; the rest of
// the binary stays baseline x86-64.
#pragma once

// GCC 12.2's AVX-512 headers build "undefined" vectors as `__m512 __Y = __Y;`, which trips
// -W(maybe-)uninitialized once inlined (GCC PR 105593, fixed in 12.3). The warning is reported at
// the header's lines, so it has to be off where the header is parsed.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include <cstdint>
#include <cstring>

// The feature lists must match what dispatch.cc checks before choosing a backend. (_Pragma takes
// a single string literal, hence the long lines.)
// clang-format off
#if defined(__clang__)
#define DSX_BEGIN_AVX2 _Pragma("clang attribute push(__attribute__((target(\"avx2,fma,f16c\"))), apply_to = function)")
#define DSX_BEGIN_AVX512 _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c\"))), apply_to = function)")
#define DSX_BEGIN_AMX _Pragma("clang attribute push(__attribute__((target(\"amx-tile,amx-bf16,avx512bf16,avx512vbmi,avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c\"))), apply_to = function)")
#define DSX_END_TARGET _Pragma("clang attribute pop")
#else
#define DSX_BEGIN_AVX2 _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma,f16c\")")
#define DSX_BEGIN_AVX512 _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c\")")
#define DSX_BEGIN_AMX _Pragma("GCC push_options") _Pragma("GCC target(\"amx-tile,amx-bf16,avx512bf16,avx512vbmi,avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c\")")
#define DSX_END_TARGET _Pragma("GCC pop_options")
#endif
// clang-format on

// Fully unroll short constant loops over tile rows / tokens so accumulators stay in registers.
#if defined(__clang__)
#define DSX_UNROLL _Pragma("unroll")
#else
#define DSX_UNROLL _Pragma("GCC unroll 16")
#endif

// fp8 e4m3 -> f16 by moving bits: sign to bit 15, the 4 exponent and 3 mantissa bits to bits
// 13..7. The f16 exponent bias is 15 against e4m3's 7, so the f16 value is exactly q * 2^-8, for
// subnormal codes too (both formats put them at exponent field 0). Callers fold the 2^8 into the
// block scale. Codes 0x7f/0xff (NaN in e4m3) decode to +-480 * 2^-8; checkpoints never hold them.
// Sign-extending the byte to 16 bits then shifting left by 7 leaves the sign in bits 15 and 14;
// the mask clears bit 14.
#define DSX_FP8_F16_MASK static_cast<short>(0xbf80)

DSX_BEGIN_AVX512
namespace dsx::kernels::cpu::avx512 {

constexpr int kLanes = 16;
using F = __m512;

inline F zero() {
  return _mm512_setzero_ps();
}
inline F set1(float v) {
  return _mm512_set1_ps(v);
}
inline F loadu(const float* p) {
  return _mm512_loadu_ps(p);
}
inline __mmask16 first_mask(int n) {
  return static_cast<__mmask16>((1u << n) - 1u);
}
// Lanes >= n read as zero; masked lanes are never touched in memory (no fault past the end).
inline F load_first(const float* p, int n) {
  return _mm512_maskz_loadu_ps(first_mask(n), p);
}
inline void storeu(float* p, F v) {
  _mm512_storeu_ps(p, v);
}
inline void store_first(float* p, F v, int n) {
  _mm512_mask_storeu_ps(p, first_mask(n), v);
}
inline F fmadd(F a, F b, F c) {
  return _mm512_fmadd_ps(a, b, c);
}
inline F add(F a, F b) {
  return _mm512_add_ps(a, b);
}
inline F mul(F a, F b) {
  return _mm512_mul_ps(a, b);
}
inline F div(F a, F b) {
  return _mm512_div_ps(a, b);
}
inline F sub(F a, F b) {
  return _mm512_sub_ps(a, b);
}
inline F max(F a, F b) {
  return _mm512_max_ps(a, b);
}
inline F round_nearest(F a) {
  return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
// a * 2^n for integral n (exact unless the result is subnormal, then rounded once).
inline F times_pow2(F a, F n) {
  return _mm512_scalef_ps(a, n);
}
// Per lane: x >= limit ? a : b.
inline F select_ge(F x, F limit, F a, F b) {
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, limit, _CMP_GE_OQ), b, a);
}

// Horizontal sum with a fixed tree (lane i + lane i+8, then +4, +2, +1). Every matmul path uses
// this one function, so the reduction order of an output never depends on the path taken.
inline float hsum(F v) {
  const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
  const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

// out[i] = hsum(v[i]) for i < n: the same tree, but sixteen sums at a time by transposing as it
// adds (15 adds and 30 shuffles for 16 sums instead of ~9 instructions per sum). Level by level
// each add pairs exactly the lanes hsum pairs, so every result has hsum's bits.
inline void hsum_many(const F* v, int n, float* out) {
  for (int base = 0; base < n; base += 16) {
    // z lane 4L + k ends up as the sum of in[L + 4k]; feed v[4L + k] there so z is in order.
    F in[16];
    for (int j = 0; j < 16; ++j) {
      const int from = base + 4 * (j % 4) + j / 4;
      in[j] = from < n ? v[from] : zero();
    }
    F t[8], u[4], w[2];
    for (int p = 0; p < 8; ++p)  // lane i + lane i+8: [in[2p] | in[2p+1]] halves
      t[p] = add(_mm512_shuffle_f32x4(in[2 * p], in[2 * p + 1], 0x44),
                 _mm512_shuffle_f32x4(in[2 * p], in[2 * p + 1], 0xEE));
    for (int p = 0; p < 4; ++p)  // i + i+4 within each eight
      u[p] = add(_mm512_shuffle_f32x4(t[2 * p], t[2 * p + 1], 0x88),
                 _mm512_shuffle_f32x4(t[2 * p], t[2 * p + 1], 0xDD));
    for (int p = 0; p < 2; ++p)  // i + i+2 within each four
      w[p] = add(_mm512_shuffle_ps(u[2 * p], u[2 * p + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                 _mm512_shuffle_ps(u[2 * p], u[2 * p + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    const F z = add(_mm512_shuffle_ps(w[0], w[1], _MM_SHUFFLE(2, 0, 2, 0)),  // i + i+1
                    _mm512_shuffle_ps(w[0], w[1], _MM_SHUFFLE(3, 1, 3, 1)));
    if (n - base >= 16) {
      storeu(out + base, z);
    } else {
      store_first(out + base, z, n - base);
    }
  }
}

// Weight loads: kLanes consecutive stored elements as float32 (exact conversions).
inline F load_bf16(const uint16_t* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
inline F load_bf16_first(const uint16_t* p, int n) {
  const __m256i h = _mm256_maskz_loadu_epi16(first_mask(n), p);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
inline F load_f16(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline F load_f16_first(const uint16_t* p, int n) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(first_mask(n), p));
}
// fp8: values are q * 2^-8 (see DSX_FP8_F16_MASK). Two chunks at once: the integer steps then
// run on 32 lanes, which matters because decode, not memory, is the limit of fp8 GEMV.
inline void load_fp8x2(const uint8_t* p, F* lo, F* hi) {
  __m512i h = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  h = _mm512_and_si512(_mm512_slli_epi16(h, 7), _mm512_set1_epi16(DSX_FP8_F16_MASK));
  *lo = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
  *hi = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
}
inline F fp8_codes_to_f32(__m128i codes) {
  __m256i h = _mm256_cvtepi8_epi16(codes);
  h = _mm256_and_si256(_mm256_slli_epi16(h, 7), _mm256_set1_epi16(DSX_FP8_F16_MASK));
  return _mm512_cvtph_ps(h);
}
inline F load_fp8(const uint8_t* p) {
  return fp8_codes_to_f32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline F load_fp8_first(const uint8_t* p, int n) {
  return fp8_codes_to_f32(_mm_maskz_loadu_epi8(first_mask(n), p));
}

}  // namespace dsx::kernels::cpu::avx512
DSX_END_TARGET

DSX_BEGIN_AVX2
namespace dsx::kernels::cpu::avx2 {

constexpr int kLanes = 8;
using F = __m256;

inline F zero() {
  return _mm256_setzero_ps();
}
inline F set1(float v) {
  return _mm256_set1_ps(v);
}
inline F loadu(const float* p) {
  return _mm256_loadu_ps(p);
}
inline __m256i first_mask(int n) {
  // Lane i is all ones when i < n (the form maskload/maskstore want).
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
// Lanes >= n read as zero; masked lanes are never touched in memory (no fault past the end).
inline F load_first(const float* p, int n) {
  return _mm256_maskload_ps(p, first_mask(n));
}
inline void storeu(float* p, F v) {
  _mm256_storeu_ps(p, v);
}
inline void store_first(float* p, F v, int n) {
  _mm256_maskstore_ps(p, first_mask(n), v);
}
inline F fmadd(F a, F b, F c) {
  return _mm256_fmadd_ps(a, b, c);
}
inline F add(F a, F b) {
  return _mm256_add_ps(a, b);
}
inline F mul(F a, F b) {
  return _mm256_mul_ps(a, b);
}
inline F div(F a, F b) {
  return _mm256_div_ps(a, b);
}
inline F sub(F a, F b) {
  return _mm256_sub_ps(a, b);
}
inline F max(F a, F b) {
  return _mm256_max_ps(a, b);
}
inline F round_nearest(F a) {
  return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
// a * 2^n for integral n in [-126, 127] (the product is exact unless subnormal, then rounded
// once, as AVX-512's scalef).
inline F times_pow2(F a, F n) {
  const __m256i bits =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(a, _mm256_castsi256_ps(bits));
}
// Per lane: x >= limit ? a : b.
inline F select_ge(F x, F limit, F a, F b) {
  return _mm256_blendv_ps(b, a, _mm256_cmp_ps(x, limit, _CMP_GE_OQ));
}

// Horizontal sum with a fixed tree (lane i + lane i+4, then +2, +1).
inline float hsum(F v) {
  const __m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
  return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

// out[i] = hsum(v[i]) for i < n, eight at a time with hsum's pairing (see the AVX-512 version).
inline void hsum_many(const F* v, int n, float* out) {
  for (int base = 0; base < n; base += 8) {
    // z lane m ends up as the sum of in[2 (m % 4) + m / 4]; feed v[m] there.
    F in[8];
    for (int m = 0; m < 8; ++m) {
      in[2 * (m % 4) + m / 4] = base + m < n ? v[base + m] : zero();
    }
    F t[4], u[2];
    for (int p = 0; p < 4; ++p)  // lane i + lane i+4: [in[2p] | in[2p+1]] halves
      t[p] = add(_mm256_permute2f128_ps(in[2 * p], in[2 * p + 1], 0x20),
                 _mm256_permute2f128_ps(in[2 * p], in[2 * p + 1], 0x31));
    for (int p = 0; p < 2; ++p)  // i + i+2 within each four
      u[p] = add(_mm256_shuffle_ps(t[2 * p], t[2 * p + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                 _mm256_shuffle_ps(t[2 * p], t[2 * p + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    const F z = add(_mm256_shuffle_ps(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),  // i + i+1
                    _mm256_shuffle_ps(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
    if (n - base >= 8) {
      storeu(out + base, z);
    } else {
      store_first(out + base, z, n - base);
    }
  }
}

// AVX2 has no masked 8/16-bit loads: partial chunks go through a small zeroed copy.
inline F load_bf16(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
inline F load_bf16_first(const uint16_t* p, int n) {
  uint16_t tmp[kLanes] = {};
  std::memcpy(tmp, p, static_cast<size_t>(n) * sizeof(uint16_t));
  return load_bf16(tmp);
}
inline F load_f16(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline F load_f16_first(const uint16_t* p, int n) {
  uint16_t tmp[kLanes] = {};
  std::memcpy(tmp, p, static_cast<size_t>(n) * sizeof(uint16_t));
  return load_f16(tmp);
}
// fp8: values are q * 2^-8 (see DSX_FP8_F16_MASK); two chunks (16 codes) per decode.
inline void load_fp8x2(const uint8_t* p, F* lo, F* hi) {
  __m256i h = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  h = _mm256_and_si256(_mm256_slli_epi16(h, 7), _mm256_set1_epi16(DSX_FP8_F16_MASK));
  *lo = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
  *hi = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
}
inline F load_fp8(const uint8_t* p) {
  __m128i h = _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  h = _mm_and_si128(_mm_slli_epi16(h, 7), _mm_set1_epi16(DSX_FP8_F16_MASK));
  return _mm256_cvtph_ps(h);
}
inline F load_fp8_first(const uint8_t* p, int n) {
  uint8_t tmp[kLanes] = {};
  std::memcpy(tmp, p, static_cast<size_t>(n));
  return load_fp8(tmp);
}

}  // namespace dsx::kernels::cpu::avx2
DSX_END_TARGET
