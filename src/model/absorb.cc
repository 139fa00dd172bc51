// Weights for the absorbed form of MLA. kv_b is [heads * (nope + v), kv_lora]: per head W_UK
// ([nope, kv_lora]) then W_UV ([v, kv_lora]). Absorbing W_UK into the query is q_latent =
// W_UK^T q_nope, a product with the transpose; a transposed copy turns it into an ordinary matmul
// over all of a head's tokens at once (y = x W^T with W = W_UK^T). W_UV is used as it is stored.
#include <cstring>

#include "model/model.h"

namespace dsx {

namespace {

// Storage of the copies, kept alive by the MlaWeights that point into it. The copies are read
// every decoded token, as the checkpoint's weights are, so they live on huge pages too.
struct AbsorbedStorage {
  HugePages weights;  // bf16, fp8 or float32 elements, per head as laid out below
  std::vector<float> scales;
};

}  // namespace

void build_absorbed_weights(const ModelConfig& c, MlaWeights& w) {
  const int64_t heads = c.num_attention_heads, nope = c.qk_nope_head_dim, vdim = c.v_head_dim;
  const int64_t lora = c.kv_lora_rank, stride = nope + vdim;
  const WeightView& kv_b = w.kv_b;
  auto storage = std::make_shared<AbsorbedStorage>();
  w.uk_t.assign(static_cast<size_t>(heads), {});
  w.uv.assign(static_cast<size_t>(heads), {});
  const int64_t block = kv_b.block;
  const bool fp8_aligned =
      kv_b.type == DType::F8_E4M3 && stride % block == 0 && nope % block == 0 && lora % block == 0;

  if (kv_b.type == DType::BF16) {
    storage->weights = HugePages(static_cast<size_t>(heads * lora * nope) * sizeof(uint16_t));
    const uint16_t* src = static_cast<const uint16_t*>(kv_b.data);
    for (int64_t h = 0; h < heads; ++h) {
      uint16_t* dst = storage->weights.as<uint16_t>() + h * lora * nope;
      for (int64_t d = 0; d < nope; ++d)
        for (int64_t j = 0; j < lora; ++j) dst[j * nope + d] = src[(h * stride + d) * lora + j];
    }
  } else if (fp8_aligned) {
    // A 128x128 block of W_UK transposed is a block of W_UK^T with the same scale.
    const int64_t scale_cols = lora / block, nope_blocks = nope / block;
    storage->weights = HugePages(static_cast<size_t>(heads * lora * nope));
    storage->scales.resize(static_cast<size_t>(heads * scale_cols * nope_blocks));
    const uint8_t* src = static_cast<const uint8_t*>(kv_b.data);
    for (int64_t h = 0; h < heads; ++h) {
      uint8_t* dst = storage->weights.data() + h * lora * nope;
      for (int64_t d = 0; d < nope; ++d)
        for (int64_t j = 0; j < lora; ++j) dst[j * nope + d] = src[(h * stride + d) * lora + j];
      float* sc =
          storage->scales.data() + h * scale_cols * nope_blocks;  // [lora/block, nope/block]
      for (int64_t jb = 0; jb < scale_cols; ++jb)
        for (int64_t db = 0; db < nope_blocks; ++db)
          sc[jb * nope_blocks + db] =
              kv_b.block_scale[((h * stride) / block + db) * scale_cols + jb];
    }
  } else {
    // float32: W_UK^T and W_UV of every head, dequantised exactly.
    storage->weights = HugePages(static_cast<size_t>(heads * lora * (nope + vdim)) * sizeof(float));
    for (int64_t h = 0; h < heads; ++h) {
      float* uk = storage->weights.as<float>() + h * lora * (nope + vdim);
      float* uv = uk + lora * nope;
      for (int64_t d = 0; d < nope; ++d)
        for (int64_t j = 0; j < lora; ++j) uk[j * nope + d] = kv_b.at(h * stride + d, j);
      for (int64_t r = 0; r < vdim; ++r)
        for (int64_t j = 0; j < lora; ++j) uv[r * lora + j] = kv_b.at(h * stride + nope + r, j);
    }
  }

  for (int64_t h = 0; h < heads; ++h) {
    WeightView& uk = w.uk_t[h];
    void* uk_data = nullptr;  // the copy, writable while it is built
    WeightView& uv = w.uv[h];
    uk.rows = lora;
    uk.cols = nope;
    uv.rows = vdim;
    uv.cols = lora;
    if (kv_b.type == DType::BF16 || fp8_aligned) {
      uk.type = kv_b.type;
      uk_data = storage->weights.data() + h * lora * nope * dtype_size(kv_b.type);
      uk.data = uk_data;
      if (fp8_aligned) {
        uk.block = block;
        uk.block_scale = storage->scales.data() + h * (lora / block) * (nope / block);
      }
      // W_UV in place: a band of kv_b's rows (block-aligned for fp8).
      uv = kernels::row_band(kv_b, h * stride + nope, vdim);
    } else {
      float* base = storage->weights.as<float>() + h * lora * (nope + vdim);
      uk.type = DType::F32;
      uk.data = uk_data = base;
      uv.type = DType::F32;
      uv.data = base + lora * nope;
    }
    // The copy is ours to lay out as the kernels read fastest (see interleave_weights).
    lay_out_copy(uk, uk_data);
  }
  w.absorbed_storage = std::move(storage);
}

}  // namespace dsx
