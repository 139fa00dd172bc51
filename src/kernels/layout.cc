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

namespace {

// Rewrites the whole groups of `group_rows` rows (row_bytes each) at data in place so that each
// group stores its rows' `piece`-byte pieces side by side: [row_bytes / piece][group_rows][piece].
// The rows after the last whole group stay as they are.
void regroup(uint8_t* data, int64_t rows, int64_t row_bytes, int64_t group_rows, int64_t piece) {
  const int64_t group_bytes = group_rows * row_bytes;
  std::vector<uint8_t> copy(static_cast<size_t>(group_bytes));  // one group, row-major
  for (int64_t g = 0; g < rows / group_rows; ++g) {
    uint8_t* group = data + g * group_bytes;
    std::memcpy(copy.data(), group, static_cast<size_t>(group_bytes));
    for (int64_t p = 0; p < row_bytes / piece; ++p)
      for (int64_t r = 0; r < group_rows; ++r)
        std::memcpy(group + (p * group_rows + r) * piece, copy.data() + r * row_bytes + p * piece,
                    static_cast<size_t>(piece));
  }
}

}  // namespace

void interleave_rows(WeightView& w, void* data) {
  if (!can_interleave(w)) throw Error("interleave_rows: matrix cannot take the interleaved layout");
  regroup(static_cast<uint8_t*>(data), w.rows, w.cols * static_cast<int64_t>(dtype_size(w.type)),
          kInterleaveRows, kInterleaveBytes);
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
  // A tile's row is a piece: the interleaving of groups of 16 with kTileCols-element pieces.
  const auto elem = static_cast<int64_t>(dtype_size(w.type));
  auto* bytes = static_cast<uint8_t*>(data);
  regroup(bytes, w.rows, w.cols * elem, kTileGroupRows, kTileCols * elem);
  if (w.type == DType::F8_E4M3) {
    // Each pair of a tile's rows, byte by byte: [32 columns][2 rows] (what the AMX kernel decodes
    // without shuffles). The whole groups' tiles are one run of 2 x 32-byte row pairs.
    const int64_t pairs = w.rows / kTileGroupRows * w.cols / kTileCols * (kTileGroupRows / 2);
    uint8_t pair[2 * kTileCols];
    for (int64_t p = 0; p < pairs; ++p) {
      uint8_t* at = bytes + p * 2 * kTileCols;
      std::memcpy(pair, at, sizeof pair);
      for (int64_t c = 0; c < kTileCols; ++c) {
        at[2 * c] = pair[c];
        at[2 * c + 1] = pair[kTileCols + c];
      }
    }
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
