#include "tokenizer/pretokenizer.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/core.h"

namespace dsx::tok {
namespace {

// The regex HF's ByteLevel applies when use_regex is true (GPT-2's).
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

bool bool_field(const nlohmann::json& j, const char* key, bool fallback, const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw Error(where + "." + key + " must be true or false");
  return it->get<bool>();
}

std::string string_field(const nlohmann::json& j, const char* key, const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) throw Error(where + "." + key + " must be a string");
  return it->get<std::string>();
}

}  // namespace

PreTokenizer PreTokenizer::from_json(const nlohmann::json& config, const std::string& file) {
  PreTokenizer p;
  if (!config.is_null()) p.parse(config, file, "pre_tokenizer");
  return p;
}

void PreTokenizer::parse(const nlohmann::json& config, const std::string& file,
                         const std::string& path) {
  const std::string where = file + ": " + path;
  if (!config.is_object()) throw Error(where + " must be an object");
  const std::string type = string_field(config, "type", where);
  if (type == "Sequence") {
    const auto it = config.find("pretokenizers");
    if (it == config.end() || !it->is_array()) throw Error(where + ".pretokenizers must be a list");
    for (size_t i = 0; i < it->size(); ++i) {
      parse((*it)[i], file, path + ".pretokenizers[" + std::to_string(i) + "]");
    }
    return;
  }
  // Pieces after ByteLevel are spelled in its alphabet; splitting them again would need the
  // regex to see that spelling. No released tokenizer does this, so refuse it plainly.
  if (byte_level_) throw Error(where + ": a " + type + " after ByteLevel is not supported");
  Step step;
  if (type == "ByteLevel") {
    step.byte_level = true;
    step.add_prefix_space = bool_field(config, "add_prefix_space", true, where);
    if (bool_field(config, "use_regex", true, where)) {
      step.regex = std::make_unique<Regex>(kGpt2Pattern, false, where);
    }
    byte_level_ = true;
  } else if (type == "Split") {
    const auto pattern = config.find("pattern");
    if (pattern == config.end() || !pattern->is_object() || pattern->size() != 1) {
      throw Error(where + ".pattern must be {\"Regex\": ...} or {\"String\": ...}");
    }
    const bool literal = pattern->contains("String");
    if (!literal && !pattern->contains("Regex")) {
      throw Error(where + ".pattern kind '" + pattern->begin().key() + "' is not supported");
    }
    const auto& text = pattern->begin().value();
    if (!text.is_string()) throw Error(where + ".pattern must hold a string");
    step.regex = std::make_unique<Regex>(text.get<std::string>(), literal, where + ".pattern");
    const std::string behavior = string_field(config, "behavior", where);
    if (behavior == "Removed") {
      step.behavior = Behavior::kRemoved;
    } else if (behavior == "Isolated") {
      step.behavior = Behavior::kIsolated;
    } else if (behavior == "MergedWithPrevious") {
      step.behavior = Behavior::kMergedWithPrevious;
    } else if (behavior == "MergedWithNext") {
      step.behavior = Behavior::kMergedWithNext;
    } else if (behavior == "Contiguous") {
      step.behavior = Behavior::kContiguous;
    } else {
      throw Error(where + ".behavior '" + behavior + "' is not supported");
    }
    step.invert = bool_field(config, "invert", false, where);
  } else {
    throw Error(file + ": " + path + " type '" + type + "' is not supported");
  }
  steps_.push_back(std::move(step));
}

void PreTokenizer::run(std::string_view text, PreTokenizeScratch& scratch,
                       const std::function<void(std::string_view)>& sink) const {
  if (text.empty()) return;
  if (scratch.levels.size() < steps_.size()) scratch.levels.resize(steps_.size());
  apply(0, text, scratch, sink);
  scratch.owned.clear();
}

// Depth first, so that a piece reaches BPE while its bytes are still in cache, and memory stays
// proportional to one piece rather than to the whole text.
void PreTokenizer::apply(size_t step, std::string_view piece, PreTokenizeScratch& scratch,
                         const std::function<void(std::string_view)>& sink) const {
  if (step == steps_.size()) {
    sink(piece);
    return;
  }
  // Each level owns its vector; deeper calls only touch deeper levels.
  std::vector<std::string_view>& pieces = scratch.levels[step];
  pieces.clear();
  split(steps_[step], piece, scratch, pieces);
  for (std::string_view sub : pieces) apply(step + 1, sub, scratch, sink);
}

void PreTokenizer::split(const Step& step, std::string_view piece, PreTokenizeScratch& scratch,
                         std::vector<std::string_view>& out) const {
  if (step.byte_level && step.add_prefix_space && piece.front() != ' ') {
    // HF prepends the space to every piece that reaches ByteLevel, not only the first.
    scratch.owned.push_back(" ");
    scratch.owned.back().append(piece);
    piece = scratch.owned.back();
  }
  if (step.regex == nullptr) {
    out.push_back(piece);
    return;
  }
  // Matches and the gaps between them, in order, as HF's Pattern::find_matches lists them.
  scratch.matches.clear();
  step.regex->find_all(piece, scratch.match, scratch.matches);
  auto& spans = scratch.spans;
  spans.clear();
  size_t prev = 0;
  for (const auto& [begin, end] : scratch.matches) {
    if (prev != begin) spans.push_back({prev, begin, step.invert});
    spans.push_back({begin, end, !step.invert});
    prev = end;
  }
  if (prev != piece.size()) spans.push_back({prev, piece.size(), step.invert});

  // Fold the spans by behaviour; is_match afterwards means "drop" (only for kRemoved).
  std::vector<PreTokenizeScratch::Span> folded;
  auto* result = &spans;
  switch (step.behavior) {
    case Behavior::kIsolated:
      for (auto& s : spans) s.is_match = false;
      break;
    case Behavior::kRemoved:
      break;
    case Behavior::kMergedWithPrevious:
    case Behavior::kContiguous: {
      bool previous_match = false;
      for (const auto& s : spans) {
        const bool merge = step.behavior == Behavior::kContiguous ? s.is_match == previous_match
                                                                  : s.is_match && !previous_match;
        if (merge && !folded.empty()) {
          folded.back().end = s.end;
        } else {
          folded.push_back({s.begin, s.end, false});
        }
        previous_match = s.is_match;
      }
      result = &folded;
      break;
    }
    case Behavior::kMergedWithNext: {
      bool previous_match = false;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !folded.empty()) {
          folded.back().begin = it->begin;
        } else {
          folded.push_back({it->begin, it->end, false});
        }
        previous_match = it->is_match;
      }
      std::reverse(folded.begin(), folded.end());
      result = &folded;
      break;
    }
  }
  for (const auto& s : *result) {
    if (!s.is_match && s.end > s.begin) out.push_back(piece.substr(s.begin, s.end - s.begin));
  }
}

}  // namespace dsx::tok
