// The pre-tokenizer of tokenizer.json: Split (a regex or literal with one of HF's five
// delimiter behaviours, optionally inverted) and ByteLevel (optional prefix space and GPT-2
// regex), alone or in a Sequence. It cuts text into the pieces ("words") that BPE then encodes
// one at a time; pieces are views into the text, never copies, except where a prefix space
// is added.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"

namespace dsx::tok {

// Buffers one encode call reuses across pieces.
struct PreTokenizeScratch {
  struct Span {
    size_t begin, end;
    bool is_match;
  };
  MatchScratch match;
  std::vector<std::pair<size_t, size_t>> matches;
  std::vector<Span> spans;
  std::vector<std::vector<std::string_view>> levels;  // the pieces of each step, depth first
  std::deque<std::string> owned;                      // pieces with an added prefix space
};

class PreTokenizer {
 public:
  // `config` is the "pre_tokenizer" value (null allowed); `file` names tokenizer.json in errors.
  static PreTokenizer from_json(const nlohmann::json& config, const std::string& file);

  // Whether pieces reach the model spelled in the byte-level alphabet (a ByteLevel step exists);
  // otherwise the model looks characters up as they are.
  bool byte_level() const { return byte_level_; }

  // Calls sink(piece) for each non-empty piece of text, in order.
  void run(std::string_view text, PreTokenizeScratch& scratch,
           const std::function<void(std::string_view)>& sink) const;

 private:
  enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };
  struct Step {
    std::unique_ptr<Regex> regex;  // Split's pattern, or ByteLevel's GPT-2 regex (may be null)
    bool byte_level = false;
    Behavior behavior = Behavior::kIsolated;
    bool invert = false;
    bool add_prefix_space = false;
  };

  void parse(const nlohmann::json& config, const std::string& file, const std::string& path);
  void apply(size_t step, std::string_view piece, PreTokenizeScratch& scratch,
             const std::function<void(std::string_view)>& sink) const;
  void split(const Step& step, std::string_view piece, PreTokenizeScratch& scratch,
             std::vector<std::string_view>& out) const;

  std::vector<Step> steps_;
  bool byte_level_ = false;
};

}  // namespace dsx::tok
