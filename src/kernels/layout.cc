// The interleaved weight layout (WeightView::interleaved): rewriting row-major rows in place, and
// bands of rows that keep a matrix's layout.
#include <cstring>
#include <vector>

#include "kernels/ops.h"

namespace dsx::kernels {

bool can_interleave(const WeightView& w) {
  if (w.interleaved || w.data == nullptr || w.rows < kInterleaveRows) return false;
  if (w.type != DType::F32 && w.type != DType::BF16 && w.type != DType::F16 &&
      w.type != DType::F8_E4M3)
    return false;
  if (w.type == DType::F8_E4M3 && (w.block <= 0 || w.block % kInterleaveRows != 0)) return false;
  const int64_t row_bytes = w.cols * static_cast<int64_t>(dtype_size(w.type));
  return w.cols > 0 && row_bytes % kInterleaveBytes == 0;
}

void interleave_rows(WeightView& w, void* data) {
  if (!can_interleave(w)) throw Error("interleave_rows: matrix cannot take the interleaved layout");
  const int64_t row_bytes = w.cols * static_cast<int64_t>(dtype_size(w.type));
  const int64_t pieces = row_bytes / kInterleaveBytes;
  const int64_t group_bytes = kInterleaveRows * row_bytes;
  std::vector<uint8_t> rows(static_cast<size_t>(group_bytes));  // one group, row-major
  auto* bytes = static_cast<uint8_t*>(data);
  for (int64_t g = 0; g < w.rows / kInterleaveRows; ++g) {
    uint8_t* group = bytes + g * group_bytes;
    std::memcpy(rows.data(), group, static_cast<size_t>(group_bytes));
    for (int64_t p = 0; p < pieces; ++p)
      for (int64_t r = 0; r < kInterleaveRows; ++r)
        std::memcpy(group + (p * kInterleaveRows + r) * kInterleaveBytes,
                    rows.data() + r * row_bytes + p * kInterleaveBytes, kInterleaveBytes);
  }
  w.interleaved = true;
}

WeightView row_band(const WeightView& w, int64_t r0, int64_t rows) {
  if (r0 < 0 || rows < 0 || r0 + rows > w.rows) throw Error("row_band: rows out of range");
  if (w.interleaved &&
      (r0 % kInterleaveRows != 0 || (rows % kInterleaveRows != 0 && r0 + rows != w.rows)))
    throw Error("row_band: the band cuts a group of interleaved rows");
  if (w.type == DType::F8_E4M3 && (w.block <= 0 || r0 % w.block != 0))
    throw Error("row_band: the band cuts a block of scales");
  WeightView band = w;
  band.rows = rows;
  band.data = static_cast<const char*>(w.data) + r0 * w.cols * dtype_size(w.type);
  if (w.type == DType::F8_E4M3)
    band.block_scale = w.block_scale + (r0 / w.block) * ((w.cols + w.block - 1) / w.block);
  return band;
}

}  // namespace dsx::kernels
