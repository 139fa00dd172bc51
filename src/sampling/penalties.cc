// Repeat (CTRL / llama.cpp) and frequency / presence (OpenAI) penalties.
#include "sampling/penalties.h"

#include <algorithm>
#include <string>

#include "core/core.h"

namespace dsx {
namespace sampling_detail {
namespace {

// The top bit of a mark says "in the repeat window"; the rest counts generated occurrences.
constexpr uint32_t kInWindow = 1u << 31;

void check_ids(std::span<const int32_t> tokens, const char* what, size_t vocab) {
  for (int32_t t : tokens) {
    if (t < 0 || static_cast<size_t>(t) >= vocab) {
      throw Error(std::string(what) + " token " + std::to_string(t) + " is outside the vocab [0, " +
                  std::to_string(vocab) + ")");
    }
  }
}

}  // namespace

void collect_penalties(std::span<const float> logits, const SamplingParams& params,
                       std::span<const int32_t> context, std::span<const int32_t> generated,
                       std::vector<uint32_t>& marks, std::vector<Candidate>& out) {
  out.clear();
  const bool repeat_on = params.repeat_penalty != 1.0f && params.repeat_last_n != 0;
  const bool counts_on = params.frequency_penalty != 0.0f || params.presence_penalty != 0.0f;

  std::span<const int32_t> window;
  if (repeat_on) {
    const size_t n =
        params.repeat_last_n < 0 ? context.size() : static_cast<size_t>(params.repeat_last_n);
    window = context.last(std::min(n, context.size()));
  }
  if (!counts_on) generated = {};
  // Check every id before marking any, so a throw leaves `marks` clean.
  check_ids(window, "context", logits.size());
  check_ids(generated, "generated", logits.size());
  if (window.empty() && generated.empty()) return;
  if (marks.size() < logits.size()) marks.resize(logits.size(), 0);

  for (int32_t t : window) {
    if (marks[t] == 0) out.push_back({t, logits[t], 0.0f});
    marks[t] |= kInWindow;
  }
  for (int32_t t : generated) {
    if (marks[t] == 0) out.push_back({t, logits[t], 0.0f});
    ++marks[t];
  }
  // Each distinct token is penalised once, however often it repeats in the window, as llama.cpp
  // does; the repeat penalty applies first, then the count-based ones, also as llama.cpp does.
  for (Candidate& c : out) {
    const uint32_t mark = marks[c.token];
    marks[c.token] = 0;
    float logit = c.logit;
    if (mark & kInWindow) {
      logit = logit > 0.0f ? logit / params.repeat_penalty : logit * params.repeat_penalty;
    }
    const uint32_t count = mark & ~kInWindow;
    if (count > 0) {
      logit -= static_cast<float>(count) * params.frequency_penalty + params.presence_penalty;
    }
    c.logit = logit;
  }
}

}  // namespace sampling_detail

void apply_penalties(std::span<float> logits, const SamplingParams& params,
                     std::span<const int32_t> context, std::span<const int32_t> generated) {
  params.validate();
  std::vector<uint32_t> marks;
  std::vector<Candidate> penalised;
  sampling_detail::collect_penalties(logits, params, context, generated, marks, penalised);
  for (const Candidate& c : penalised) logits[c.token] = c.logit;
}

}  // namespace dsx
