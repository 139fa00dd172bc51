// dsx kv: the paged latent KV cache of multi-head latent attention.
//
// Per token and layer it stores only the normalised latent c_kv (kv_lora_rank floats) and the
// roped shared key (qk_rope_head_dim floats) — never per-head keys and values. Storage is split
// into fixed-size blocks; each sequence owns a table of blocks, so sequences of any length share
// one pool and a finished sequence returns its blocks at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/core.h"

namespace dsx {

class LatentCache {
 public:
  // layers: cache layers (main + MTP); entry: kv_lora_rank + qk_rope_head_dim floats.
  LatentCache(int64_t layers, int64_t kv_lora_rank, int64_t rope_dim, int64_t num_blocks,
              int64_t block_size, int64_t max_positions);

  int64_t kv_lora_rank() const { return kv_lora_rank_; }
  int64_t rope_dim() const { return rope_dim_; }
  int64_t block_size() const { return block_size_; }
  int64_t num_blocks() const { return static_cast<int64_t>(free_.size()) + used_blocks_; }
  int64_t free_blocks() const { return static_cast<int64_t>(free_.size()); }
  int64_t used_blocks() const { return used_blocks_; }
  int64_t max_positions() const { return max_positions_; }
  // Bytes of cache per token over all layers.
  int64_t bytes_per_token() const { return layers_ * entry_ * static_cast<int64_t>(sizeof(float)); }

  // Creates an empty sequence and returns its id.
  int32_t add_sequence();
  // Frees a sequence's blocks; its id may be reused.
  void remove_sequence(int32_t seq);
  bool has_sequence(int32_t seq) const;
  // Makes room for positions [0, length) of seq. Returns false (and allocates nothing) when the
  // pool has too few free blocks; throws Error past max_positions.
  bool reserve(int32_t seq, int64_t length);
  // Forgets positions >= length (keeps the blocks it still needs).
  void truncate(int32_t seq, int64_t length);
  int64_t capacity(int32_t seq) const;  // positions reserved

  // The entry of (layer, seq, pos): [kv_lora_rank] latent followed by [rope_dim] roped key.
  float* entry(int64_t layer, int32_t seq, int64_t pos);
  const float* entry(int64_t layer, int32_t seq, int64_t pos) const;

 private:
  int64_t layers_, kv_lora_rank_, rope_dim_, entry_, block_size_, max_positions_;
  // Anonymous memory whose pages stay unallocated until first written: a cache sized for every
  // request's whole context (--parallel x --ctx-size) costs resident memory as sequences fill it.
  // On huge pages: decode reads a sequence's keys a block at a time from blocks ~1 MB apart, and
  // on 4 KiB pages every 36 KB run crossed 9 pages (one decode step's attention at context 576:
  // 184-195 -> 160-170 us a layer; at 2080: 540-547 -> 510-513).
  HugePages storage_;          // float32 [num_blocks, layers, block_size, entry]
  std::vector<int32_t> free_;  // free block ids (a stack)
  int64_t used_blocks_ = 0;
  std::vector<std::vector<int32_t>> tables_;  // per sequence: its blocks in position order
  std::vector<bool> live_;
};

}  // namespace dsx
