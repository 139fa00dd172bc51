#include <cmath>

#include "core/core.h"

namespace dsx {

namespace {
struct DTypeInfo {
  DType type;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F32, "F32", 4},   {DType::F16, "F16", 2},         {DType::BF16, "BF16", 2},
    {DType::F8_E4M3, "F8_E4M3", 1}, {DType::I32, "I32", 4}, {DType::I64, "I64", 8},
    {DType::U8, "U8", 1},     {DType::F64, "F64", 8},         {DType::I8, "I8", 1},
    {DType::I16, "I16", 2},   {DType::BOOL, "BOOL", 1},
};

struct Fp8Table {
  float values[256];
  Fp8Table() {
    for (int i = 0; i < 256; ++i) {
      int sign = i >> 7, exp = (i >> 3) & 15, man = i & 7;
      float v;
      if (exp == 15 && man == 7) {
        v = NAN;
      } else if (exp == 0) {
        v = std::ldexp(static_cast<float>(man) / 8.0f, -6);  // subnormal
      } else {
        v = std::ldexp(1.0f + static_cast<float>(man) / 8.0f, exp - 7);
      }
      values[i] = sign ? -v : v;
    }
  }
};
const Fp8Table& fp8_table() {
  static const Fp8Table table;  // immutable after construction
  return table;
}
}  // namespace

const char* dtype_name(DType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return d.name;
  return "?";
}

size_t dtype_size(DType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return d.size;
  return 0;
}

bool parse_dtype(const std::string& name, DType* out) {
  for (const auto& d : kDTypes) {
    if (name == d.name) {
      *out = d.type;
      return true;
    }
  }
  return false;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 31, man = h & 1023;
  float v;
  if (exp == 0) {
    v = std::ldexp(static_cast<float>(man), -24);
  } else if (exp == 31) {
    v = man ? NAN : INFINITY;
  } else {
    v = std::ldexp(static_cast<float>(man | 1024), static_cast<int>(exp) - 25);
  }
  return sign ? -v : v;
}

float fp8_e4m3_to_f32(uint8_t v) { return fp8_table().values[v]; }

const float* fp8_e4m3_table() { return fp8_table().values; }

uint8_t f32_to_fp8_e4m3(float f) {
  if (std::isnan(f)) return 0x7f;
  uint8_t sign = std::signbit(f) ? 0x80 : 0;
  float a = std::fabs(f);
  if (a >= 448.0f) return sign | 0x7e;  // saturate to the largest finite value
  // Search the positive codes 0..0x7e for the nearest, ties to the even code.
  const float* table = fp8_e4m3_table();
  int lo = 0, hi = 0x7e;
  while (lo < hi) {  // first code with value >= a
    int mid = (lo + hi) / 2;
    if (table[mid] < a) lo = mid + 1; else hi = mid;
  }
  int best = lo;
  if (lo > 0) {
    float below = a - table[lo - 1], above = table[lo] - a;
    if (below < above || (below == above && ((lo - 1) & 1) == 0)) best = lo - 1;
  }
  return static_cast<uint8_t>(sign | best);
}

}  // namespace dsx
