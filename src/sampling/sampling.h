// dsx sampling: choosing the next token from a row of logits, and the bits of text handling that
// go with it (stop strings, logprobs). Everything here is a pure function of its inputs plus,
// for Sampler, an explicit seeded RNG owned by one sequence: no global state, so the same seed
// and the same logits give the same tokens on any thread and in any batch.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dsx {

// Per-request sampling settings. Defaults change nothing: plain sampling at temperature 1.
struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy (argmax, ties to the lowest id), no RNG used
  int top_k = 0;             // keep the k largest logits; 0: off
  float top_p = 1.0f;        // keep the smallest set with cumulative probability >= p; 1: off
  float min_p = 0.0f;        // keep tokens with p >= min_p * p_max; 0: off
  // CTRL / llama.cpp style, over the last repeat_last_n context tokens (each distinct token once):
  // logit > 0 ? logit / penalty : logit * penalty. 1: off.
  float repeat_penalty = 1.0f;
  int repeat_last_n = 64;  // 0: off, -1: the whole context
  // OpenAI style, over generated tokens only: logit -= count * frequency + (count > 0) * presence.
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  uint64_t seed = 0;

  // Throws dsx::Error naming the first bad field.
  void validate() const;
};

// A token still in the running after penalties and filters. `logit` is the penalised logit at
// temperature 1; `prob` the final probability the draw uses (after temperature).
struct Candidate {
  int32_t token;
  float logit;
  float prob;
};

// Applies repeat, frequency and presence penalties to `logits` in place. `context` is the prompt
// and the generated tokens so far (the repeat window is its tail); `generated` the generated ones.
// Throws dsx::Error if a token id is outside [0, logits.size()).
void apply_penalties(std::span<float> logits, const SamplingParams& params,
                     std::span<const int32_t> context, std::span<const int32_t> generated);

// Chooses tokens for one sequence. The pipeline, in llama.cpp's order:
//   penalties -> top-k -> top-p -> min-p -> temperature -> softmax -> draw.
// The filters see the temperature-1 distribution, so temperature only reshapes the odds among
// the survivors and never widens the set (a hot temperature cannot let the tail back in).
// NaN and -inf logits are never chosen; +inf logits win outright (shared evenly if several).
// Logits are read, not modified, so callers can still take logprobs of the raw model output.
class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);  // validates params

  // The distribution the next draw would use: the surviving candidates with probabilities that
  // sum to 1, in an order fixed by the inputs. Valid until the next call on this Sampler.
  // Throws dsx::Error if no logit is usable (empty, or all NaN / -inf).
  std::span<const Candidate> distribution(std::span<const float> logits,
                                          std::span<const int32_t> context,
                                          std::span<const int32_t> generated);

  // distribution() then one draw from the RNG (no draw at temperature 0).
  int32_t sample(std::span<const float> logits, std::span<const int32_t> context,
                 std::span<const int32_t> generated);

  const SamplingParams& params() const { return params_; }

 private:
  float max_logit() const;
  void sort_prefix(size_t end);
  void filter_top_k();
  void filter_top_p();
  void filter_min_p();
  void apply_temperature();

  SamplingParams params_;
  // mt19937_64's output sequence is fixed by the standard, so seeds reproduce across compilers;
  // we turn its bits into doubles ourselves for the same reason.
  std::mt19937_64 rng_;
  // Sized to the vocab once and reused, so the token loop does not allocate after the first
  // token. The live candidates are [0, size_), of which [0, sorted_) are in descending order.
  std::vector<Candidate> candidates_;
  size_t size_ = 0;
  size_t sorted_ = 0;
  std::vector<uint32_t> marks_;       // per vocab id; zero between calls
  std::vector<Candidate> penalised_;  // penalties of the current call
};

// Index of the largest logit, ties to the lowest id; NaN is skipped.
// Throws dsx::Error if logits is empty or all NaN.
int32_t argmax(std::span<const float> logits);

// Log-probabilities of the raw logits (log-softmax at temperature 1), for OpenAI `logprobs` and
// `top_logprobs`. NaN counts as -inf. Throws dsx::Error if no logit is usable.
struct TokenLogprob {
  int32_t token;
  float logprob;
};
float token_logprob(std::span<const float> logits, int32_t token);
// The n most likely tokens, most likely first, ties to the lowest id (n larger than the vocab
// returns the whole vocab).
std::vector<TokenLogprob> top_logprobs(std::span<const float> logits, int n);

// Streaming stop-string matcher. Feed decoded text pieces as they come; each feed returns the
// text that is safe to show now. A tail that could still grow into a stop string is held back
// until the next piece settles it. When a stop string completes, the text before it is
// emitted, the stop string and anything after it are dropped, and the matcher stays stopped.
// The stop that completes first wins, so the result is the same however the text is split.
// Matching is on bytes; the tokenizer's streaming decode keeps pieces whole UTF-8 characters.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);  // throws dsx::Error on an empty stop

  struct Result {
    std::string emit;
    bool stopped = false;
    int stop_index = -1;  // which stop string matched
  };
  Result feed(std::string_view piece);
  // End of generation without a stop: returns the held-back text. Empty once stopped.
  std::string flush();
  bool stopped() const { return stop_index_ >= 0; }

 private:
  size_t longest_partial_suffix() const;

  std::vector<std::string> stops_;
  std::string held_;
  int stop_index_ = -1;
};

}  // namespace dsx
