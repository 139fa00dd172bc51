// The interleaved and tile weight layouts (WeightView::interleaved, WeightView::tiled): rewriting
// row-major rows in place, and bands of rows that keep a matrix's layout.
#include <cstring>
#include <vector>

#include "kernels/ops.h"

namespace dsx::kernels {

bool can_interleave(const WeightView& w) {
  if (w.interleaved || w.tiled || w.data == nullptr || w.rows < kInterleaveRows) return false;
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

bool amx_supports(const WeightView& w) {
  if (w.interleaved || w.cols <= 0 || w.cols % kTileCols != 0) return false;
  if (w.type == DType::BF16) return true;
  return w.type == DType::F8_E4M3 && w.block_scale != nullptr && w.block > 0 &&
         w.block % kTileCols == 0;
}

bool can_tile(const WeightView& w) {
  if (w.interleaved || w.tiled || w.data == nullptr || w.rows < kTileGroupRows) return false;
  if (w.type != DType::BF16 && w.type != DType::F8_E4M3) return false;
  if (w.type == DType::F8_E4M3 &&
      (w.block_scale == nullptr || w.block <= 0 || w.block % kTileCols != 0))
    return false;
  return w.cols > 0 && w.cols % kTileCols == 0;
}

void tile_rows(WeightView& w, void* data) {
  if (!can_tile(w)) throw Error("tile_rows: matrix cannot take the tile layout");
  const auto elem = static_cast<int64_t>(dtype_size(w.type));
  const int64_t row_bytes = w.cols * elem;
  const int64_t group_bytes = kTileGroupRows * row_bytes;
  std::vector<uint8_t> rows(static_cast<size_t>(group_bytes));  // one group, row-major
  auto* bytes = static_cast<uint8_t*>(data);
  for (int64_t g = 0; g < w.rows / kTileGroupRows; ++g) {
    uint8_t* group = bytes + g * group_bytes;
    std::memcpy(rows.data(), group, static_cast<size_t>(group_bytes));
    uint8_t* out = group;  // tile by tile: [row][kTileCols elements]
    for (int64_t c = 0; c < w.cols; c += kTileCols)
      for (int64_t r = 0; r < kTileGroupRows; ++r, out += kTileCols * elem)
        std::memcpy(out, rows.data() + r * row_bytes + c * elem,
                    static_cast<size_t>(kTileCols * elem));
  }
  w.tiled = true;
}

WeightView row_band(const WeightView& w, int64_t r0, int64_t rows) {
  if (r0 < 0 || rows < 0 || r0 + rows > w.rows) throw Error("row_band: rows out of range");
  if (w.interleaved &&
      (r0 % kInterleaveRows != 0 || (rows % kInterleaveRows != 0 && r0 + rows != w.rows)))
    throw Error("row_band: the band cuts a group of interleaved rows");
  if (w.tiled && (r0 % kTileGroupRows != 0 || (rows % kTileGroupRows != 0 && r0 + rows != w.rows)))
    throw Error("row_band: the band cuts a group of tiled rows");
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
