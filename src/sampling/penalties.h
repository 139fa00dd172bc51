// Internal to src/sampling: the penalty arithmetic shared by apply_penalties (in place, for
// callers holding a plain logits row) and Sampler (which never writes to its input).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "sampling/sampling.h"

namespace dsx::sampling_detail {

// Sets `out` to one entry per token a penalty touches, in first-seen order, with its penalised
// logit (prob unused). `marks` is per-vocab scratch: all zero on entry and on return, grown as
// needed, so repeated calls cost O(window + generated), not O(vocab).
void collect_penalties(std::span<const float> logits, const SamplingParams& params,
                       std::span<const int32_t> context, std::span<const int32_t> generated,
                       std::vector<uint32_t>& marks, std::vector<Candidate>& out);

}  // namespace dsx::sampling_detail
