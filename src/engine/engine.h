// dsx engine: runs a model over sequences held in the latent cache.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/core.h"
#include "kv/kv.h"
#include "model/model.h"
#include "sampling/sampling.h"

namespace dsx {

struct EngineOptions {
  int threads = 0;              // 0: all hardware threads
  int64_t ctx_size = 4096;      // positions per sequence (capped by the model's max positions)
  int64_t max_sequences = 1;    // sequences held in the cache at once
  int64_t prefill_chunk = 512;  // prompts are cut at multiples of this (tokens per forward pass)
  int64_t block_size = 16;      // cache positions per block
};

// A latent cache for `sequences` sequences of up to options.ctx_size positions each (capped by the
// model's max_position_embeddings, at least min_context).
LatentCache make_cache(const Model& model, const EngineOptions& options, int64_t sequences,
                       int64_t min_context);

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

// ---------------------------------------------------------------------------------------------
// Continuous batching: many sequences decode together, one forward pass a step.

// What a request asks the engine to generate. Text concerns (detokenising, stop strings, chat
// templates) belong to the caller; the engine works in token ids.
struct GenerationRequest {
  std::vector<int32_t> prompt;  // must be non-empty
  SamplingParams sampling;
  int64_t max_tokens = 128;          // tokens to generate at most (>= 1)
  std::vector<int32_t> stop_tokens;  // generation ends after emitting one of these (e.g. EOS)
  int top_logprobs = -1;             // -1: no logprobs; 0: the chosen token's; n: also the top n
};

enum class FinishReason { None, Stop, Length, Cancelled, Error };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled", "error"

// One generated token, or the end of a request. Delivered on the engine thread, in order.
struct TokenEvent {
  uint64_t request = 0;
  int32_t token = -1;                        // -1 when the event only ends the request
  float logprob = 0.0f;                      // when top_logprobs >= 0
  std::vector<TokenLogprob> top;             // top_logprobs entries
  FinishReason finish = FinishReason::None;  // != None on the last event of a request
  std::string error;                         // when finish == Error
  int64_t prompt_tokens = 0;                 // on the last event: usage
  int64_t generated_tokens = 0;
};

// Called on the engine thread for every event: keep it short (hand the event to a queue).
using TokenCallback = std::function<void(const TokenEvent&)>;

struct EngineStats {
  int64_t running = 0;  // sequences in the batch
  int64_t waiting = 0;  // queued requests
  int64_t kv_blocks_used = 0;
  int64_t kv_blocks_total = 0;
  int64_t prompt_tokens = 0;  // totals since start (prompt tokens counted when submitted)
  int64_t generated_tokens = 0;
  int64_t steps = 0;  // forward passes
};

struct ServingOptions {
  int64_t max_running = 16;   // sequences decoding at once (--parallel)
  int64_t max_waiting = 64;   // queued requests beyond that; more are refused
  int64_t step_tokens = 512;  // tokens per forward pass (decode tokens + prefill chunks;
                              // a whole chunk may run it over)
};

// Owns a Runner-like model executor on its own thread. submit() and cancel() are thread-safe.
// Every step: admit waiting requests while cache blocks last, then one forward pass over one
// token of every decoding sequence plus chunks of prompts being prefilled, then sample. A
// greedy request gets the same tokens alone or in any crowd (see kernels/ops.h determinism).
class Engine {
 public:
  Engine(std::shared_ptr<const Model> model, const EngineOptions& options,
         const ServingOptions& serving);
  ~Engine();  // cancels everything and joins the engine thread
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const Model& model() const;
  int64_t context_size() const;

  // Queues a request. Throws Error (one line) if it is invalid (empty prompt, token outside the
  // vocabulary, prompt + max_tokens beyond the context) or if the queue is full ("busy: ...").
  // Returns the request id; `callback` then receives its events until one with finish != None.
  uint64_t submit(GenerationRequest request, TokenCallback callback);
  // Stops a request (e.g. its client disconnected) and frees its cache at the next step boundary.
  // Its final event has FinishReason::Cancelled. Unknown or finished ids are ignored.
  void cancel(uint64_t request);

  EngineStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsx
