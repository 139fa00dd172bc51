#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "core/core.h"
#include "sampling/sampling.h"

namespace dsx {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> spread_logits(size_t n, float scale) {
  std::vector<float> l(n);
  for (size_t i = 0; i < n; ++i) l[i] = scale * std::sin(static_cast<float>(i) * 0.9f + 1.1f);
  return l;
}

// Direct long-double log-softmax, without the max shift (fine for these magnitudes).
long double direct_logprob(const std::vector<float>& logits, int32_t token) {
  long double total = 0.0L;
  for (float l : logits) total += std::exp(static_cast<long double>(l));
  return static_cast<long double>(logits[token]) - std::log(total);
}

TEST(Logprobs, MatchDirectComputationAndSumToOne) {
  const std::vector<float> logits = spread_logits(1000, 5.0f);
  double sum = 0.0;
  for (int32_t t = 0; t < 1000; ++t) {
    const float lp = token_logprob(logits, t);
    // Logprobs here are down to about -15; float rounding of the result is ~1e-6 absolute.
    EXPECT_NEAR(lp, static_cast<double>(direct_logprob(logits, t)), 1e-5) << t;
    sum += std::exp(static_cast<double>(lp));
  }
  // 1000 terms, each off by a relative ~1e-6 at most.
  EXPECT_NEAR(sum, 1.0, 1e-5);
}

TEST(Logprobs, LargeLogitsDoNotOverflow) {
  const std::vector<float> logits = {10000.0f, 10000.0f, 9999.0f};
  EXPECT_NEAR(token_logprob(logits, 0), -std::log(2.0 + std::exp(-1.0)), 1e-6);
  EXPECT_NEAR(token_logprob(logits, 2), -1.0 - std::log(2.0 + std::exp(-1.0)), 1e-6);
}

TEST(Logprobs, TopNIsSortedAndAgreesWithTokenLogprob) {
  const std::vector<float> logits = spread_logits(5000, 3.0f);
  const std::vector<TokenLogprob> top = top_logprobs(logits, 20);
  ASSERT_EQ(top.size(), 20u);
  std::vector<float> sorted = logits;
  std::sort(sorted.begin(), sorted.end(), std::greater<float>());
  for (size_t i = 0; i < top.size(); ++i) {
    EXPECT_EQ(logits[top[i].token], sorted[i]) << i;
    EXPECT_EQ(top[i].logprob, token_logprob(logits, top[i].token));
    if (i > 0) {
      EXPECT_GE(top[i - 1].logprob, top[i].logprob);
    }
  }
}

TEST(Logprobs, TopNTiesToLowestIdAndClampsN) {
  const std::vector<float> logits = {1.0f, 2.0f, 2.0f, 0.0f, 2.0f};
  const std::vector<TokenLogprob> top = top_logprobs(logits, 2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].token, 1);
  EXPECT_EQ(top[1].token, 2);
  EXPECT_EQ(top_logprobs(logits, 100).size(), 5u);
  EXPECT_TRUE(top_logprobs(logits, 0).empty());
  EXPECT_THROW(top_logprobs(logits, -1), Error);
}

TEST(Logprobs, NaNCountsAsMinusInf) {
  const std::vector<float> logits = {kNaN, 0.0f, 0.0f, -kInf};
  EXPECT_EQ(token_logprob(logits, 0), -kInf);
  EXPECT_EQ(token_logprob(logits, 3), -kInf);
  EXPECT_NEAR(token_logprob(logits, 1), -std::log(2.0), 1e-7);
  const std::vector<TokenLogprob> top = top_logprobs(logits, 4);
  ASSERT_EQ(top.size(), 4u);
  EXPECT_EQ(top[0].token, 1);
  EXPECT_EQ(top[1].token, 2);
  EXPECT_EQ(top[2].logprob, -kInf);
  EXPECT_EQ(top[3].logprob, -kInf);
}

TEST(Logprobs, PlusInfTakesAllTheMass) {
  const std::vector<float> logits = {kInf, 3.0f, kInf};
  EXPECT_NEAR(token_logprob(logits, 0), -std::log(2.0), 1e-7);
  EXPECT_EQ(token_logprob(logits, 1), -kInf);
}

TEST(Logprobs, BadInputThrows) {
  const std::vector<float> logits = {0.0f, 1.0f};
  try {
    token_logprob(logits, 2);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "token 2 is outside the vocab [0, 2)");
  }
  EXPECT_THROW(token_logprob(logits, -1), Error);
  EXPECT_THROW(token_logprob(std::vector<float>{kNaN, -kInf}, 0), Error);
  EXPECT_THROW(top_logprobs(std::vector<float>{}, 1), Error);
}

}  // namespace
}  // namespace dsx
