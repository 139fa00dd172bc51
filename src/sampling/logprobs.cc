// argmax and log-softmax over raw logits: what OpenAI's `logprobs` / `top_logprobs` report.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/core.h"
#include "sampling/sampling.h"

namespace dsx {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// NaN ranks as -inf: it must never be reported as likely, and comparisons stay a total order.
float key(float logit) {
  return std::isnan(logit) ? kNegInf : logit;
}

// log(sum exp(l - max)) with the max subtracted first so large logits cannot overflow; summed
// in double in index order so the result does not depend on anything but the logits.
struct LogNormaliser {
  float max;
  double log_total;

  float logprob(float logit) const {
    const float l = key(logit);
    if (l == max) return static_cast<float>(-log_total);  // also right for max == +inf
    return static_cast<float>((static_cast<double>(l) - max) - log_total);
  }
};

LogNormaliser normaliser(std::span<const float> logits) {
  if (logits.empty()) throw Error("logits must not be empty");
  float max = kNegInf;
  for (float l : logits) max = std::max(max, key(l));
  if (max == kNegInf) throw Error("logits has no usable value (all NaN or -inf)");
  double total = 0.0;
  for (float l : logits) {
    const float k = key(l);
    total += k == max ? 1.0 : std::exp(static_cast<double>(k) - max);
  }
  return {max, std::log(total)};
}

}  // namespace

int32_t argmax(std::span<const float> logits) {
  if (logits.empty()) throw Error("logits must not be empty");
  int32_t best = -1;
  for (size_t i = 0; i < logits.size(); ++i) {
    // Strictly greater keeps the lowest id on ties; NaN fails every comparison and is skipped.
    if (best < 0 ? !std::isnan(logits[i]) : logits[i] > logits[best])
      best = static_cast<int32_t>(i);
  }
  if (best < 0) throw Error("logits has no usable value (all NaN)");
  return best;
}

float token_logprob(std::span<const float> logits, int32_t token) {
  if (token < 0 || static_cast<size_t>(token) >= logits.size()) {
    throw Error("token " + std::to_string(token) + " is outside the vocab [0, " +
                std::to_string(logits.size()) + ")");
  }
  return normaliser(logits).logprob(logits[token]);
}

std::vector<TokenLogprob> top_logprobs(std::span<const float> logits, int n) {
  if (n < 0) throw Error("top_logprobs must be >= 0, got " + std::to_string(n));
  const LogNormaliser norm = normaliser(logits);
  const size_t count = std::min(static_cast<size_t>(n), logits.size());
  // A bounded heap whose front is the worst kept entry: O(vocab log n) and no vocab-sized
  // buffer, since n is small (OpenAI allows up to 20).
  auto better = [](const TokenLogprob& a, const TokenLogprob& b) {
    return a.logprob > b.logprob || (a.logprob == b.logprob && a.token < b.token);
  };
  std::vector<TokenLogprob> heap;
  heap.reserve(count);
  for (size_t i = 0; i < logits.size() && count > 0; ++i) {
    const TokenLogprob t{static_cast<int32_t>(i), key(logits[i])};  // logit for now
    if (heap.size() < count) {
      heap.push_back(t);
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (better(t, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = t;
      std::push_heap(heap.begin(), heap.end(), better);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), better);  // best first
  for (TokenLogprob& t : heap) t.logprob = norm.logprob(t.logprob);
  return heap;
}

}  // namespace dsx
