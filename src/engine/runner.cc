#include <algorithm>

#include "engine/engine.h"

namespace dsx {

LatentCache make_cache(const Model& model, const EngineOptions& options, int64_t sequences,
                       int64_t min_context) {
  const ModelConfig& c = model.config();
  const int64_t context =
      std::max(min_context, std::min(options.ctx_size, c.max_position_embeddings));
  const int64_t per_seq = (context + options.block_size - 1) / options.block_size;
  return LatentCache(model.cache_layers(), c.kv_lora_rank, c.qk_rope_head_dim,
                     per_seq * std::max<int64_t>(1, sequences), options.block_size, context);
}

Runner::Runner(std::shared_ptr<const Model> model, const EngineOptions& options)
    : model_(std::move(model)),
      options_(options),
      pool_(options.threads),
      cache_(make_cache(*model_, options, options.max_sequences, 1)) {}

int32_t Runner::new_sequence() {
  const int32_t seq = cache_.add_sequence();
  if (static_cast<size_t>(seq) >= lengths_.size()) lengths_.resize(seq + 1, 0);
  lengths_[seq] = 0;
  return seq;
}

void Runner::free_sequence(int32_t seq) {
  cache_.remove_sequence(seq);
  if (static_cast<size_t>(seq) < lengths_.size()) lengths_[seq] = 0;
}

int64_t Runner::length(int32_t seq) const {
  return static_cast<size_t>(seq) < lengths_.size() ? lengths_[seq] : 0;
}

void Runner::truncate(int32_t seq, int64_t length) {
  if (length < lengths_.at(seq)) {
    lengths_[seq] = length;
    cache_.truncate(seq, length);
  }
}

std::span<const float> Runner::append(int32_t seq, std::span<const int32_t> tokens) {
  return run(seq, tokens, false);
}

std::span<const float> Runner::append_all_logits(int32_t seq, std::span<const int32_t> tokens) {
  return run(seq, tokens, true);
}

std::span<const float> Runner::run(int32_t seq, std::span<const int32_t> tokens, bool all_logits) {
  if (tokens.empty()) throw Error("append: no tokens");
  const int64_t start = length(seq);
  const int64_t end = start + static_cast<int64_t>(tokens.size());
  if (end > cache_.max_positions())
    throw Error("context full: " + std::to_string(end) + " tokens exceed the context size " +
                std::to_string(cache_.max_positions()));
  if (!cache_.reserve(seq, end)) throw Error("kv cache: out of blocks");
  const int64_t vocab = model_->config().vocab_size;
  if (all_logits) all_logits_.resize(static_cast<size_t>(tokens.size() * vocab));
  const int64_t chunk = std::max<int64_t>(1, options_.prefill_chunk);
  try {
    // Chunks end at multiples of prefill_chunk, as the engine cuts prompts (the attention form,
    // and so the bits, depend on the cut: ForwardBatch).
    for (int64_t off = 0, n = 0; off < static_cast<int64_t>(tokens.size()); off += n) {
      n = std::min<int64_t>(chunk - (start + off) % chunk,
                            static_cast<int64_t>(tokens.size()) - off);
      positions_.resize(n);
      seqs_.assign(n, seq);
      for (int64_t i = 0; i < n; ++i) positions_[i] = static_cast<int32_t>(start + off + i);
      rows_.clear();
      if (all_logits) {
        for (int64_t i = 0; i < n; ++i) rows_.push_back(static_cast<int32_t>(i));
      } else if (off + n == static_cast<int64_t>(tokens.size())) {
        rows_.push_back(static_cast<int32_t>(n - 1));
      }
      ForwardBatch batch{tokens.subspan(off, n), positions_, seqs_, rows_};
      model_->forward(batch, cache_, pool_, out_);
      if (all_logits)
        std::copy(out_.logits.begin(), out_.logits.end(), all_logits_.begin() + off * vocab);
    }
  } catch (...) {
    cache_.truncate(seq, start);  // leave the sequence as it was
    throw;
  }
  lengths_[seq] = end;
  if (all_logits) return all_logits_;
  return out_.logits;
}

}  // namespace dsx
