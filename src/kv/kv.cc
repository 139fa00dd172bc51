#include "kv/kv.h"

#include <climits>
#include <string>

namespace dsx {

LatentCache::LatentCache(int64_t layers, int64_t kv_lora_rank, int64_t rope_dim, int64_t num_blocks,
                         int64_t block_size, int64_t max_positions)
    : layers_(layers),
      kv_lora_rank_(kv_lora_rank),
      rope_dim_(rope_dim),
      entry_(kv_lora_rank + rope_dim),
      block_size_(block_size),
      max_positions_(max_positions) {
  if (layers <= 0 || entry_ <= 0 || num_blocks <= 0 || block_size <= 0)
    throw Error("kv cache: invalid geometry");
  // Block ids are int32; the byte count must not wrap.
  size_t bytes = sizeof(float);
  bool overflow = num_blocks > INT32_MAX;
  for (int64_t factor : {num_blocks, layers, block_size, entry_})
    overflow = overflow || __builtin_mul_overflow(bytes, static_cast<size_t>(factor), &bytes);
  if (overflow)
    throw Error("kv cache: " + std::to_string(num_blocks) + " blocks of " +
                std::to_string(block_size) + " positions do not fit in memory");
  try {
    storage_ = HugePages(bytes);
  } catch (const Error&) {
    throw Error("kv cache: cannot allocate " + std::to_string(bytes) + " bytes for " +
                std::to_string(num_blocks) + " blocks of " + std::to_string(block_size) +
                " positions");
  }
  for (int64_t b = num_blocks - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));
}

int32_t LatentCache::add_sequence() {
  for (size_t i = 0; i < live_.size(); ++i) {
    if (!live_[i]) {
      live_[i] = true;
      tables_[i].clear();
      return static_cast<int32_t>(i);
    }
  }
  live_.push_back(true);
  tables_.emplace_back();
  return static_cast<int32_t>(live_.size() - 1);
}

bool LatentCache::has_sequence(int32_t seq) const {
  return seq >= 0 && static_cast<size_t>(seq) < live_.size() && live_[seq];
}

void LatentCache::remove_sequence(int32_t seq) {
  if (!has_sequence(seq)) return;
  truncate(seq, 0);
  live_[seq] = false;
}

bool LatentCache::reserve(int32_t seq, int64_t length) {
  if (!has_sequence(seq)) throw Error("kv cache: unknown sequence " + std::to_string(seq));
  if (length > max_positions_)
    throw Error("kv cache: " + std::to_string(length) + " positions exceed the context size " +
                std::to_string(max_positions_));
  auto& table = tables_[seq];
  const int64_t need =
      (length + block_size_ - 1) / block_size_ - static_cast<int64_t>(table.size());
  if (need <= 0) return true;
  if (need > static_cast<int64_t>(free_.size())) return false;
  for (int64_t i = 0; i < need; ++i) {
    table.push_back(free_.back());
    free_.pop_back();
  }
  used_blocks_ += need;
  return true;
}

void LatentCache::truncate(int32_t seq, int64_t length) {
  if (!has_sequence(seq)) return;
  auto& table = tables_[seq];
  const size_t keep = static_cast<size_t>((length + block_size_ - 1) / block_size_);
  while (table.size() > keep) {
    free_.push_back(table.back());
    table.pop_back();
    --used_blocks_;
  }
}

int64_t LatentCache::capacity(int32_t seq) const {
  return has_sequence(seq) ? static_cast<int64_t>(tables_[seq].size()) * block_size_ : 0;
}

float* LatentCache::entry(int64_t layer, int32_t seq, int64_t pos) {
  const int64_t block = tables_[seq][static_cast<size_t>(pos / block_size_)];
  return storage_.as<float>() +
         ((block * layers_ + layer) * block_size_ + pos % block_size_) * entry_;
}

const float* LatentCache::entry(int64_t layer, int32_t seq, int64_t pos) const {
  return const_cast<LatentCache*>(this)->entry(layer, seq, pos);
}

}  // namespace dsx
