// Sampler: penalties -> top-k -> top-p -> min-p -> temperature -> softmax -> draw.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "core/core.h"
#include "sampling/penalties.h"
#include "sampling/sampling.h"

namespace dsx {
namespace {

// Descending logit, ties to the lowest id: a total order, so which tokens survive a cut and the
// order they end up in depend only on the logits, not on the standard library's algorithms.
bool before(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.token < b.token);
}

// exp((logit - max) / t). logit == max gives exactly 1 so that +inf logits, where inf - inf
// would be NaN, share the mass evenly and everything finite gets 0. Float exp is plenty for
// drawing (sums are in double) and is much cheaper than double over a 128k vocab.
float weight(float logit, float max, float inv_t) {
  return logit == max ? 1.0f : std::exp((logit - max) * inv_t);
}

// Top-p bins candidates by how far their logit lies below the max, 1/8 logit per bucket. One
// pass over the bins says roughly where the nucleus ends, so only about that many candidates
// get sorted. Everything more than 32 logits down (weight < 1e-13) shares the last bucket.
constexpr int kBuckets = 256;
constexpr float kBucketsPerLogit = 8.0f;

int bucket(float logit, float max) {
  if (logit == max) return 0;
  const float d = (max - logit) * kBucketsPerLogit;  // +inf when max is +inf
  return d < kBuckets - 1 ? static_cast<int>(d) : kBuckets - 1;
}

}  // namespace

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {
  params_.validate();
}

std::span<const Candidate> Sampler::distribution(std::span<const float> logits,
                                                 std::span<const int32_t> context,
                                                 std::span<const int32_t> generated) {
  if (logits.empty()) throw Error("logits must not be empty");
  sampling_detail::collect_penalties(logits, params_, context, generated, marks_, penalised_);
  std::sort(penalised_.begin(), penalised_.end(),
            [](const Candidate& a, const Candidate& b) { return a.token < b.token; });
  if (candidates_.size() < logits.size()) candidates_.resize(logits.size());
  size_ = 0;
  sorted_ = 0;

  // One pass that takes the penalised value where there is one and skips what can never be
  // drawn. Skipping NaN also keeps the comparisons below a strict weak order.
  const float neg_inf = -std::numeric_limits<float>::infinity();
  auto pen = penalised_.cbegin();
  auto logit_at = [&](size_t i) {
    if (pen != penalised_.cend() && static_cast<size_t>(pen->token) == i) return (pen++)->logit;
    return logits[i];
  };
  if (params_.temperature == 0.0f) {
    // Greedy needs no buffer: strictly greater keeps the lowest id on ties.
    int32_t best = -1;
    float best_logit = neg_inf;
    for (size_t i = 0; i < logits.size(); ++i) {
      const float logit = logit_at(i);
      if (logit > best_logit) {
        best = static_cast<int32_t>(i);
        best_logit = logit;
      }
    }
    if (best < 0) throw Error("logits has no usable value (all NaN or -inf)");
    candidates_[0] = {best, best_logit, 1.0f};
    size_ = 1;
    return {candidates_.data(), size_};
  }
  Candidate* out = candidates_.data();
  for (size_t i = 0; i < logits.size(); ++i) {
    const float logit = logit_at(i);
    if (logit > neg_inf) *out++ = {static_cast<int32_t>(i), logit, 0.0f};
  }
  size_ = static_cast<size_t>(out - candidates_.data());
  if (size_ == 0) throw Error("logits has no usable value (all NaN or -inf)");

  filter_top_k();
  filter_top_p();
  filter_min_p();
  apply_temperature();
  return {candidates_.data(), size_};
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> context,
                        std::span<const int32_t> generated) {
  const std::span<const Candidate> dist = distribution(logits, context, generated);
  if (params_.temperature == 0.0f) return dist[0].token;
  // Exactly one draw per sampled token, even when one candidate is left, so the RNG stream
  // advances the same way whatever the filters did. 53 random bits fill a double's mantissa.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  double total = 0.0;
  for (const Candidate& c : dist) total += c.prob;
  const double target = u * total;
  double cum = 0.0;
  for (const Candidate& c : dist) {
    cum += c.prob;
    if (cum > target) return c.token;
  }
  // Rounding left target at the very top: the last token with any mass.
  for (size_t i = dist.size(); i-- > 0;) {
    if (dist[i].prob > 0.0f) return dist[i].token;
  }
  return dist[0].token;
}

float Sampler::max_logit() const {
  if (sorted_ > 0) return candidates_[0].logit;
  return std::min_element(candidates_.data(), candidates_.data() + size_, before)->logit;
}

void Sampler::sort_prefix(size_t end) {
  end = std::min(end, size_);
  if (end <= sorted_) return;
  // Everything after the sorted prefix is below it (nth_element keeps that invariant), so
  // selecting from the tail and sorting the new stretch extends it: O(n + m log m), not n log n.
  Candidate* const first = candidates_.data();
  if (end < size_) std::nth_element(first + sorted_, first + end, first + size_, before);
  std::sort(first + sorted_, first + end, before);
  sorted_ = end;
}

void Sampler::filter_top_k() {
  const size_t k = static_cast<size_t>(params_.top_k);
  if (k == 0 || k >= size_) return;
  sort_prefix(k);  // sorting the survivors gives them an order fixed by the logits alone
  size_ = k;
}

void Sampler::filter_top_p() {
  if (params_.top_p >= 1.0f) return;
  const float max = max_logit();
  // Probabilities over the current candidates at temperature 1, summed in double in a fixed
  // order; the cut compares unnormalised sums against top_p * total.
  double total = 0.0;
  std::array<double, kBuckets> mass{};
  std::array<size_t, kBuckets> count{};
  for (size_t i = 0; i < size_; ++i) {
    const float logit = candidates_[i].logit;
    const float w = weight(logit, max, 1.0f);
    const int b = bucket(logit, max);
    total += w;
    mass[b] += w;
    ++count[b];
  }
  const double target = static_cast<double>(params_.top_p) * total;
  size_t estimate = 0;
  double cum = 0.0;
  for (int b = 0; b < kBuckets && cum < target; ++b) {
    cum += mass[b];
    estimate += count[b];
  }
  sort_prefix(estimate);

  // The exact cut, in sorted order. Summing in a different order than the buckets did can
  // round the other way; then the sorted prefix grows a little more.
  cum = 0.0;
  size_t kept = 0;
  while (kept < size_) {
    if (kept == sorted_) sort_prefix(2 * sorted_ + 16);
    cum += weight(candidates_[kept].logit, max, 1.0f);
    ++kept;
    if (cum >= target) break;
  }
  size_ = kept;
  sorted_ = std::min(sorted_, kept);
}

void Sampler::filter_min_p() {
  if (params_.min_p <= 0.0f) return;
  // p >= min_p * p_max  <=>  logit - max >= log(min_p): no softmax needed.
  const float threshold = max_logit() + std::log(params_.min_p);
  Candidate* const first = candidates_.data();
  // remove_if keeps the survivors' order. A sorted candidate is dropped only if every unsorted
  // one is, so the sorted prefix stays a sorted prefix.
  Candidate* const end = std::remove_if(
      first, first + size_, [threshold](const Candidate& c) { return !(c.logit >= threshold); });
  size_ = static_cast<size_t>(end - first);
  sorted_ = std::min(sorted_, size_);
}

void Sampler::apply_temperature() {
  const float max = max_logit();
  const float inv_t = 1.0f / params_.temperature;
  double total = 0.0;
  for (size_t i = 0; i < size_; ++i) {
    Candidate& c = candidates_[i];
    c.prob = weight(c.logit, max, inv_t);
    total += c.prob;
  }
  // total >= 1: the max itself has weight 1.
  for (size_t i = 0; i < size_; ++i) {
    candidates_[i].prob = static_cast<float>(candidates_[i].prob / total);
  }
}

}  // namespace dsx
