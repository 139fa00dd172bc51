// dsx engine: runs a model over sequences held in the latent cache.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/core.h"
#include "kv/kv.h"
#include "model/model.h"

namespace dsx {

struct EngineOptions {
  int threads = 0;             // 0: all hardware threads
  int64_t ctx_size = 4096;     // positions per sequence (capped by the model's max positions)
  int64_t max_sequences = 1;   // sequences held in the cache at once
  int64_t prefill_chunk = 512; // prompt tokens per forward pass
  int64_t block_size = 16;     // cache positions per block
};

// One model, its latent cache and a thread pool: appends tokens to sequences and returns logits.
// Not thread-safe: one caller at a time (the server runs it from one engine thread).
class Runner {
 public:
  Runner(std::shared_ptr<const Model> model, const EngineOptions& options);

  const Model& model() const { return *model_; }
  const EngineOptions& options() const { return options_; }
  LatentCache& cache() { return cache_; }
  ThreadPool& pool() { return pool_; }

  int32_t new_sequence();
  void free_sequence(int32_t seq);
  int64_t length(int32_t seq) const;
  // Drops positions >= length (e.g. rejected speculative tokens).
  void truncate(int32_t seq, int64_t length);

  // Appends tokens to seq, prefilling in chunks, and returns the logits [vocab] after the last
  // token (valid until the next call). Throws Error when the context is full or a token is bad.
  std::span<const float> append(int32_t seq, std::span<const int32_t> tokens);

  // Appends tokens and returns the logits after every one of them: [tokens, vocab].
  std::span<const float> append_all_logits(int32_t seq, std::span<const int32_t> tokens);

  // The final-normed hidden states [tokens, hidden] of the last forward pass (the last prefill
  // chunk of the last append): the input of MTP.
  std::span<const float> last_hidden() const { return out_.final_hidden; }

 private:
  std::span<const float> run(int32_t seq, std::span<const int32_t> tokens, bool all_logits);

  std::shared_ptr<const Model> model_;
  EngineOptions options_;
  ThreadPool pool_;
  LatentCache cache_;
  std::vector<int64_t> lengths_;  // per sequence id
  ForwardOutput out_;
  std::vector<float> all_logits_;
  std::vector<int32_t> positions_, seqs_, rows_;
};

}  // namespace dsx
