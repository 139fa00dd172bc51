// StopMatcher: stop strings over a stream of text pieces.
#include <algorithm>
#include <string>

#include "core/core.h"
#include "sampling/sampling.h"

namespace dsx {

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (size_t i = 0; i < stops_.size(); ++i) {
    // An empty stop would match before any text and end every generation at once.
    if (stops_[i].empty()) throw Error("stop[" + std::to_string(i) + "] must not be empty");
  }
}

StopMatcher::Result StopMatcher::feed(std::string_view piece) {
  if (stopped()) return {{}, true, stop_index_};
  held_ += piece;
  // Only held_ needs searching: everything already emitted was, by construction, not the start
  // of any stop string, so no match can begin before held_. The match that completes first
  // wins (on a tie, the longer one), as if the text had arrived a byte at a time: generation
  // would have ended there, and the result does not depend on how the text was split.
  size_t first = std::string::npos;
  size_t first_end = std::string::npos;
  for (size_t i = 0; i < stops_.size(); ++i) {
    const size_t pos = held_.find(stops_[i]);
    if (pos == std::string::npos) continue;
    const size_t end = pos + stops_[i].size();
    if (end < first_end || (end == first_end && pos < first)) {
      first = pos;
      first_end = end;
      stop_index_ = static_cast<int>(i);
    }
  }
  if (first != std::string::npos) {
    Result r{held_.substr(0, first), true, stop_index_};
    held_.clear();
    return r;
  }
  const size_t keep = longest_partial_suffix();
  Result r{held_.substr(0, held_.size() - keep), false, -1};
  held_.erase(0, held_.size() - keep);
  return r;
}

std::string StopMatcher::flush() {
  std::string out;
  out.swap(held_);
  return out;
}

// The longest tail of held_ that is a proper prefix of some stop string: the least we must hold
// back, so nothing is delayed that cannot turn into a stop.
size_t StopMatcher::longest_partial_suffix() const {
  const std::string_view held(held_);
  size_t best = 0;
  for (const std::string& stop : stops_) {
    for (size_t len = std::min(stop.size() - 1, held.size()); len > best; --len) {
      if (held.ends_with(std::string_view(stop).substr(0, len))) {
        best = len;
        break;
      }
    }
  }
  return best;
}

}  // namespace dsx
