#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "core/core.h"
#include "sampling/sampling.h"

namespace dsx {
namespace {

// Expects validate() and the Sampler constructor to throw a one-line dsx::Error naming `field`.
void expect_rejected(const std::function<void(SamplingParams&)>& set, const std::string& field) {
  SamplingParams p;
  set(p);
  try {
    p.validate();
    ADD_FAILURE() << field << " accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(field + " must be", 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  EXPECT_THROW(Sampler{p}, Error) << field;
}

TEST(SamplingParams, DefaultsAreValid) {
  SamplingParams p;
  EXPECT_NO_THROW(p.validate());
}

TEST(SamplingParams, RejectsEachBadFieldByName) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  expect_rejected([](SamplingParams& p) { p.temperature = -0.5f; }, "temperature");
  expect_rejected([&](SamplingParams& p) { p.temperature = nan; }, "temperature");
  expect_rejected([&](SamplingParams& p) { p.temperature = inf; }, "temperature");
  expect_rejected([](SamplingParams& p) { p.top_k = -1; }, "top_k");
  expect_rejected([](SamplingParams& p) { p.top_p = 0.0f; }, "top_p");
  expect_rejected([](SamplingParams& p) { p.top_p = 1.5f; }, "top_p");
  expect_rejected([&](SamplingParams& p) { p.top_p = nan; }, "top_p");
  expect_rejected([](SamplingParams& p) { p.min_p = -0.1f; }, "min_p");
  expect_rejected([](SamplingParams& p) { p.min_p = 1.1f; }, "min_p");
  expect_rejected([](SamplingParams& p) { p.repeat_penalty = 0.0f; }, "repeat_penalty");
  expect_rejected([&](SamplingParams& p) { p.repeat_penalty = inf; }, "repeat_penalty");
  expect_rejected([](SamplingParams& p) { p.repeat_last_n = -2; }, "repeat_last_n");
  expect_rejected([&](SamplingParams& p) { p.frequency_penalty = nan; }, "frequency_penalty");
  expect_rejected([&](SamplingParams& p) { p.presence_penalty = -inf; }, "presence_penalty");
}

TEST(SamplingParams, MessageShowsTheValue) {
  SamplingParams p;
  p.top_p = 1.5f;
  try {
    p.validate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "top_p must be in (0, 1], got 1.5");
  }
}

TEST(SamplingParams, AcceptsEdgeValues) {
  SamplingParams p;
  p.temperature = 0.0f;
  p.top_p = 1.0f;
  p.min_p = 1.0f;
  p.repeat_last_n = -1;
  p.frequency_penalty = -2.0f;
  EXPECT_NO_THROW(p.validate());
}

}  // namespace
}  // namespace dsx
