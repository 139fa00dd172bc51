#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/core.h"
#include "sampling/sampling.h"

namespace dsx {
namespace {

// Values chosen so every expected result is exact in float (powers of two, small sums).
TEST(Penalties, DefaultsLeaveLogitsBitIdentical) {
  std::vector<float> logits = {2.0f, -2.0f, 0.5f, 1.0f};
  const std::vector<float> before = logits;
  const std::vector<int32_t> ctx = {0, 1, 2, 3};
  apply_penalties(logits, SamplingParams{}, ctx, ctx);
  EXPECT_EQ(std::memcmp(logits.data(), before.data(), sizeof(float) * logits.size()), 0);
}

TEST(Penalties, RepeatDividesPositiveAndMultipliesNegativeOncePerToken) {
  std::vector<float> logits = {2.0f, -2.0f, 0.5f, 1.0f, 0.0f};
  SamplingParams p;
  p.repeat_penalty = 2.0f;
  const std::vector<int32_t> ctx = {0, 1, 0, 0, 4};  // token 0 three times: still penalised once
  apply_penalties(logits, p, ctx, {});
  EXPECT_EQ(logits, (std::vector<float>{1.0f, -4.0f, 0.5f, 1.0f, 0.0f}));
}

TEST(Penalties, RepeatWindowIsTheContextTail) {
  const std::vector<int32_t> ctx = {0, 1, 2};
  SamplingParams p;
  p.repeat_penalty = 2.0f;
  struct Case {
    int last_n;
    std::vector<float> want;
  };
  for (const Case& c : {Case{2, {4.0f, 2.0f, 2.0f}}, Case{0, {4.0f, 4.0f, 4.0f}},
                        Case{-1, {2.0f, 2.0f, 2.0f}}, Case{100, {2.0f, 2.0f, 2.0f}}}) {
    std::vector<float> logits = {4.0f, 4.0f, 4.0f};
    p.repeat_last_n = c.last_n;
    apply_penalties(logits, p, ctx, {});
    EXPECT_EQ(logits, c.want) << "repeat_last_n " << c.last_n;
  }
}

TEST(Penalties, FrequencyAndPresenceCountGeneratedTokensOnly) {
  std::vector<float> logits = {1.0f, 1.0f, 1.0f, 1.0f};
  SamplingParams p;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  const std::vector<int32_t> prompt_and_generated = {0, 0, 3, 3, 1};
  const std::vector<int32_t> generated = {3, 3, 1};
  apply_penalties(logits, p, prompt_and_generated, generated);
  // token 3: 1 - (2 * 0.5 + 0.25); token 1: 1 - (1 * 0.5 + 0.25); token 0 was only in the prompt.
  EXPECT_EQ(logits, (std::vector<float>{1.0f, 0.25f, 1.0f, -0.25f}));
}

TEST(Penalties, NegativeFrequencyEncouragesRepeats) {
  std::vector<float> logits = {0.0f, 0.0f};
  SamplingParams p;
  p.frequency_penalty = -1.0f;
  const std::vector<int32_t> generated = {1, 1};
  apply_penalties(logits, p, {}, generated);
  EXPECT_EQ(logits, (std::vector<float>{0.0f, 2.0f}));
}

TEST(Penalties, RepeatAppliesBeforeFrequencyAndPresence) {
  std::vector<float> logits = {3.0f, -1.0f};
  SamplingParams p;
  p.repeat_penalty = 2.0f;
  p.frequency_penalty = 1.0f;
  p.presence_penalty = 0.5f;
  const std::vector<int32_t> tokens = {0, 1};
  apply_penalties(logits, p, tokens, tokens);
  // 3 / 2 - 1.5 = 0 (the other order would give (3 - 1.5) / 2 = 0.75); -1 * 2 - 1.5 = -3.5.
  EXPECT_EQ(logits, (std::vector<float>{0.0f, -3.5f}));
}

TEST(Penalties, OutOfRangeTokensThrowAndNameTheList) {
  std::vector<float> logits(4, 0.0f);
  SamplingParams p;
  p.repeat_penalty = 1.1f;
  p.presence_penalty = 0.1f;
  const std::vector<int32_t> bad = {1, 4};
  const std::vector<int32_t> ok = {1};
  try {
    apply_penalties(logits, p, bad, ok);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "context token 4 is outside the vocab [0, 4)");
  }
  const std::vector<int32_t> negative = {-1};
  EXPECT_THROW(apply_penalties(logits, p, ok, negative), Error);
  EXPECT_EQ(logits, std::vector<float>(4, 0.0f));  // nothing half-applied
}

TEST(Penalties, SamplerSeesThePenalisedLogitsAndLeavesItsInputAlone) {
  const std::vector<float> logits = {2.0f, 1.5f, 0.0f};
  SamplingParams p;
  p.temperature = 0.0f;
  p.repeat_penalty = 2.0f;
  Sampler s(p);
  const std::vector<int32_t> ctx = {0};
  const auto dist = s.distribution(logits, ctx, {});
  ASSERT_EQ(dist.size(), 1u);
  EXPECT_EQ(dist[0].token, 1);  // 2 / 2 = 1 < 1.5
  EXPECT_EQ(logits[0], 2.0f);
  // Repeated calls reuse scratch: the same answer again, and none once the window is empty.
  EXPECT_EQ(s.sample(logits, ctx, {}), 1);
  EXPECT_EQ(s.sample(logits, {}, {}), 0);
}

}  // namespace
}  // namespace dsx
