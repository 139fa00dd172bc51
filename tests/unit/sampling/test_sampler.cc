#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>
#include <vector>

#include "core/core.h"
#include "sampling/sampling.h"

namespace dsx {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Deterministic, well-spread logits without depending on a library distribution's algorithm.
std::vector<float> spread_logits(size_t n, float scale) {
  std::vector<float> l(n);
  for (size_t i = 0; i < n; ++i) l[i] = scale * std::sin(static_cast<float>(i) * 1.7f + 0.3f);
  return l;
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature) {
  const double max = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double total = 0.0;
  for (size_t i = 0; i < p.size(); ++i) total += p[i] = std::exp((logits[i] - max) / temperature);
  for (double& v : p) v /= total;
  return p;
}

std::vector<int> draw_counts(const SamplingParams& params, const std::vector<float>& logits,
                             int draws) {
  Sampler s(params);
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts[s.sample(logits, {}, {})];
  return counts;
}

// Each count is Binomial(N, p): mean N p, standard deviation sqrt(N p (1 - p)). Allowing 5 sd
// fails a correct sampler with probability about 6e-7 per token (and the seeds are fixed, so a
// pass is reproducible), while a sampler whose probabilities are off by more than about
// 5 sd / N (1.8% absolute at p = 0.5, N = 20000) fails.
void expect_matches(const std::vector<int>& counts, const std::vector<double>& p, int draws) {
  for (size_t i = 0; i < p.size(); ++i) {
    const double mean = draws * p[i];
    const double sd = std::sqrt(draws * p[i] * (1.0 - p[i]));
    EXPECT_LE(std::abs(counts[i] - mean), 5.0 * sd) << "token " << i << " p " << p[i];
  }
}

double entropy(const std::vector<int>& counts, int draws) {
  double h = 0.0;
  for (int c : counts) {
    if (c > 0) h -= (double(c) / draws) * std::log(double(c) / draws);
  }
  return h;
}

std::set<int32_t> tokens_of(std::span<const Candidate> dist) {
  std::set<int32_t> s;
  for (const Candidate& c : dist) s.insert(c.token);
  return s;
}

const std::vector<float> kSmall = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 0.0f, 2.5f, -3.0f};

TEST(Argmax, LargestWithTiesToLowestIdAndNaNSkipped) {
  EXPECT_EQ(argmax(kSmall), 4);
  EXPECT_EQ(argmax(std::vector<float>{1.0f, 3.0f, 3.0f, 2.0f}), 1);
  EXPECT_EQ(argmax(std::vector<float>{kNaN, -1.0f, kNaN, 0.5f}), 3);
  EXPECT_EQ(argmax(std::vector<float>{-kInf, -kInf}), 0);
  EXPECT_THROW(argmax(std::vector<float>{kNaN, kNaN}), Error);
  EXPECT_THROW(argmax(std::vector<float>{}), Error);
}

TEST(Sampler, GreedyIsArgmax) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.seed = 7;
  Sampler s(p);
  for (size_t n : {1, 2, 17, 1000}) {
    const std::vector<float> logits = spread_logits(n, 3.0f);
    EXPECT_EQ(s.sample(logits, {}, {}), argmax(logits)) << n;
  }
  EXPECT_EQ(s.sample(std::vector<float>{1.0f, 3.0f, 3.0f}, {}, {}), 1);
  // top_k = 1 reaches the same token through the sampling path.
  p.temperature = 1.0f;
  p.top_k = 1;
  Sampler k1(p);
  const std::vector<float> logits = spread_logits(1000, 3.0f);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(k1.sample(logits, {}, {}), argmax(logits));
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferentTokens) {
  const std::vector<float> logits = spread_logits(100, 1.0f);
  auto run = [&](uint64_t seed) {
    SamplingParams p;
    p.seed = seed;
    p.top_k = 50;
    p.top_p = 0.95f;
    Sampler s(p);
    std::vector<int32_t> out;
    for (int i = 0; i < 200; ++i) out.push_back(s.sample(logits, {}, {}));
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  // ~40 plausible tokens per draw: 200 equal draws by chance is out of the question.
  EXPECT_NE(run(42), run(43));
}

TEST(Sampler, FrequenciesMatchSoftmaxAtTemperatureOne) {
  SamplingParams p;
  p.seed = 1;
  const int n = 20000;
  expect_matches(draw_counts(p, kSmall, n), softmax(kSmall, 1.0), n);
}

TEST(Sampler, DistributionIsTheSoftmax) {
  Sampler s(SamplingParams{});
  const auto dist = s.distribution(kSmall, {}, {});
  const std::vector<double> want = softmax(kSmall, 1.0);
  ASSERT_EQ(dist.size(), kSmall.size());
  double sum = 0.0;
  for (const Candidate& c : dist) {
    // float probabilities from double arithmetic: a few ulps of 1.
    EXPECT_NEAR(c.prob, want[c.token], 1e-6);
    EXPECT_EQ(c.logit, kSmall[c.token]);
    sum += c.prob;
  }
  EXPECT_NEAR(sum, 1.0, 1e-6);
}

TEST(Sampler, TemperatureSharpensAndFlattens) {
  const int n = 20000;
  std::vector<double> h;
  for (float t : {0.5f, 1.0f, 2.0f}) {
    SamplingParams p;
    p.temperature = t;
    p.seed = 3;
    const std::vector<int> counts = draw_counts(p, kSmall, n);
    expect_matches(counts, softmax(kSmall, t), n);
    h.push_back(entropy(counts, n));
  }
  EXPECT_LT(h[0], h[1]);
  EXPECT_LT(h[1], h[2]);
}

TEST(Sampler, TopKNeverLeavesTheKLargest) {
  const std::vector<float> logits = spread_logits(1000, 1.0f);
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  const std::set<int32_t> top10(order.begin(), order.begin() + 10);

  SamplingParams p;
  p.top_k = 10;
  p.temperature = 5.0f;  // flatten so every survivor shows up
  p.seed = 9;
  Sampler s(p);
  EXPECT_EQ(tokens_of(s.distribution(logits, {}, {})), top10);
  std::set<int32_t> seen;
  for (int i = 0; i < 3000; ++i) {
    const int32_t t = s.sample(logits, {}, {});
    ASSERT_TRUE(top10.count(t)) << t;
    seen.insert(t);
  }
  EXPECT_EQ(seen, top10);
}

TEST(Sampler, TopKRenormalisesAndBreaksTiesToLowestIds) {
  SamplingParams p;
  p.top_k = 3;
  Sampler s(p);
  const auto dist = s.distribution(std::vector<float>(10, 0.5f), {}, {});
  EXPECT_EQ(tokens_of(dist), (std::set<int32_t>{0, 1, 2}));
  for (const Candidate& c : dist) EXPECT_NEAR(c.prob, 1.0 / 3.0, 1e-7);
}

// Probabilities 1/2, 1/4, 1/8, ...: cumulative 0.5, 0.75, 0.875, 0.9375.
std::vector<float> halving(size_t n) {
  std::vector<float> l(n);
  for (size_t i = 0; i < n; ++i) l[i] = -static_cast<float>(i) * std::log(2.0f);
  return l;
}

TEST(Sampler, TopPKeepsTheSmallestSetReachingP) {
  const std::vector<float> logits = halving(12);
  struct Case {
    float top_p;
    size_t kept;
  };
  for (const Case& c : {Case{0.3f, 1}, Case{0.74f, 2}, Case{0.76f, 3}, Case{0.9f, 4}}) {
    SamplingParams p;
    p.top_p = c.top_p;
    Sampler s(p);
    const auto dist = s.distribution(logits, {}, {});
    EXPECT_EQ(dist.size(), c.kept) << "top_p " << c.top_p;
    for (const Candidate& d : dist) EXPECT_LT(static_cast<size_t>(d.token), c.kept);
  }
  // Draws follow the renormalised survivors: 4/7, 2/7, 1/7.
  SamplingParams p;
  p.top_p = 0.8f;
  p.seed = 5;
  const int n = 20000;
  const std::vector<int> counts = draw_counts(p, logits, n);
  std::vector<double> want(logits.size(), 0.0);
  want[0] = 4.0 / 7;
  want[1] = 2.0 / 7;
  want[2] = 1.0 / 7;
  expect_matches(counts, want, n);
}

// The incremental partial sort must agree with a brute-force full sort, across several growth
// steps of the sorted prefix (a flat distribution over 50k tokens has a nucleus of thousands).
TEST(Sampler, TopPOnALargeVocabMatchesAFullSort) {
  const std::vector<float> logits = spread_logits(50000, 2.0f);
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  const float max = logits[order[0]];
  for (float top_p : {0.05f, 0.5f, 0.95f}) {
    // Same arithmetic as the sampler: float exp of the gap to the max, summed in double in id
    // order, so the cut lands on the same token.
    double total = 0.0;
    for (float l : logits) total += std::exp(l - max);
    double cum = 0.0;
    size_t kept = 0;
    while (kept < order.size()) {
      cum += std::exp(logits[order[kept++]] - max);
      if (cum >= top_p * total) break;
    }
    SamplingParams p;
    p.top_p = top_p;
    Sampler s(p);
    const auto dist = s.distribution(logits, {}, {});
    ASSERT_EQ(dist.size(), kept) << top_p;
    for (size_t i = 0; i < kept; ++i) ASSERT_EQ(dist[i].token, order[i]) << top_p << " " << i;
  }
}

TEST(Sampler, MinPKeepsTokensWithinAFactorOfTheBest) {
  const std::vector<double> probs = {0.5, 0.3, 0.1, 0.06, 0.04};
  std::vector<float> logits;
  for (double q : probs) logits.push_back(static_cast<float>(std::log(q)));
  SamplingParams p;
  p.min_p = 0.15f;  // threshold 0.075: keeps 0.5, 0.3, 0.1
  Sampler s(p);
  const auto dist = s.distribution(logits, {}, {});
  ASSERT_EQ(tokens_of(dist), (std::set<int32_t>{0, 1, 2}));
  for (const Candidate& c : dist) EXPECT_NEAR(c.prob, probs[c.token] / 0.9, 1e-6);
  p.min_p = 1.0f;
  Sampler best_only(p);
  EXPECT_EQ(tokens_of(best_only.distribution(logits, {}, {})), (std::set<int32_t>{0}));
}

TEST(Sampler, FiltersSeeTemperatureOneSoTemperatureNeverWidensTheSet) {
  const std::vector<float> logits = halving(12);
  for (float t : {0.25f, 1.0f, 5.0f}) {
    SamplingParams p;
    p.temperature = t;
    p.top_p = 0.8f;
    p.min_p = 0.1f;
    Sampler s(p);
    EXPECT_EQ(tokens_of(s.distribution(logits, {}, {})), (std::set<int32_t>{0, 1, 2})) << t;
  }
}

TEST(Sampler, FiltersComposeInOrder) {
  // top-k 6 of halving(12), then top-p 0.9 of that renormalised set (cumulative over 63/64 of
  // mass: 0.508, 0.762, 0.889, 0.952) keeps 4, then min-p 0.2 keeps p >= p_max / 5: tokens 0-2.
  SamplingParams p;
  p.top_k = 6;
  p.top_p = 0.9f;
  p.min_p = 0.2f;
  Sampler s(p);
  EXPECT_EQ(tokens_of(s.distribution(halving(12), {}, {})), (std::set<int32_t>{0, 1, 2}));
}

TEST(Sampler, NaNAndMinusInfAreNeverDrawn) {
  const std::vector<float> logits = {kNaN, 1.0f, kNaN, 0.0f, -kInf, kNaN};
  for (int top_k : {0, 2, 4}) {
    SamplingParams p;
    p.top_k = top_k;
    p.top_p = 0.99f;
    p.seed = 11;
    Sampler s(p);
    for (int i = 0; i < 1000; ++i) {
      const int32_t t = s.sample(logits, {}, {});
      ASSERT_TRUE(t == 1 || t == 3) << t;
    }
  }
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  EXPECT_EQ(Sampler(greedy).sample(logits, {}, {}), 1);
}

TEST(Sampler, NothingUsableThrows) {
  for (float t : {0.0f, 1.0f}) {
    SamplingParams p;
    p.temperature = t;
    Sampler s(p);
    EXPECT_THROW(s.sample(std::vector<float>{kNaN, kNaN}, {}, {}), Error);
    EXPECT_THROW(s.sample(std::vector<float>{-kInf, kNaN}, {}, {}), Error);
    EXPECT_THROW(s.sample(std::vector<float>{}, {}, {}), Error);
    // Still usable afterwards.
    EXPECT_EQ(s.distribution(std::vector<float>{kNaN, 0.0f}, {}, {})[0].token, 1);
  }
}

TEST(Sampler, PlusInfWinsAndIsSharedEvenly) {
  const std::vector<float> logits = {0.0f, kInf, 50.0f, kInf};
  SamplingParams p;
  p.seed = 2;
  p.top_p = 0.9f;
  p.min_p = 0.5f;
  const int n = 4000;
  const std::vector<int> counts = draw_counts(p, logits, n);
  expect_matches(counts, {0.0, 0.5, 0.0, 0.5}, n);
}

TEST(Sampler, ReusedBuffersFollowTheVocabOfEachCall) {
  SamplingParams p;
  p.repeat_penalty = 2.0f;
  Sampler s(p);
  const std::vector<int32_t> ctx = {900};
  EXPECT_EQ(s.distribution(spread_logits(1000, 1.0f), ctx, {}).size(), 1000u);
  const std::vector<int32_t> small_ctx = {1};
  const auto dist = s.distribution(std::vector<float>{2.0f, 2.0f, 0.0f}, small_ctx, {});
  ASSERT_EQ(dist.size(), 3u);
  EXPECT_EQ(dist[1].logit, 1.0f);  // penalised; token 900 from the last call left no trace
  EXPECT_THROW(s.distribution(std::vector<float>{0.0f}, ctx, {}), Error);
}

TEST(Sampler, LargeVocabAllFiltersStaysConsistent) {
  const std::vector<float> logits = spread_logits(129280, 4.0f);  // DeepSeek-V3's padded vocab
  SamplingParams p;
  p.top_k = 40;
  p.top_p = 0.9f;
  p.min_p = 0.05f;
  p.temperature = 0.7f;
  p.repeat_penalty = 1.1f;
  p.frequency_penalty = 0.2f;
  Sampler s(p);
  std::vector<int32_t> generated;
  for (int i = 0; i < 50; ++i) {
    const auto dist = s.distribution(logits, generated, generated);
    ASSERT_GE(dist.size(), 1u);
    ASSERT_LE(dist.size(), 40u);
    double sum = 0.0;
    for (const Candidate& c : dist) sum += c.prob;
    ASSERT_NEAR(sum, 1.0, 1e-5);
    generated.push_back(s.sample(logits, generated, generated));
  }
}

}  // namespace
}  // namespace dsx
