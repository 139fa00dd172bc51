// A compiled, JIT-accelerated PCRE2 pattern with the match iteration of HF `tokenizers`
// (which runs Oniguruma): successive leftmost matches, where an empty match directly after the
// previous match is refused and the search moves on by one character.
#pragma once

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dsx::tok {

// Per-call match state, so that one Regex can be used by many threads at once.
class MatchScratch {
 public:
  // Set when the text holds characters newer than PCRE2's Unicode tables (contains_unicode_delta):
  // matching then uses the patterns that know them.
  bool newer_unicode = false;

  MatchScratch();
  ~MatchScratch();
  MatchScratch(const MatchScratch&) = delete;
  MatchScratch& operator=(const MatchScratch&) = delete;

 private:
  friend class Regex;
  pcre2_match_data* data_;
  pcre2_match_context* context_ = nullptr;  // with a larger JIT stack, made when first needed
  pcre2_jit_stack* jit_stack_ = nullptr;
};

class Regex {
 public:
  // literal=true matches `pattern` as plain text. `where` names the file and field for errors.
  Regex(std::string_view pattern, bool literal, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the [start, end) byte offsets of every match in subject (valid UTF-8) to out.
  void find_all(std::string_view subject, MatchScratch& scratch,
                std::vector<std::pair<size_t, size_t>>& out) const;

 private:
  int match(std::string_view subject, size_t start, MatchScratch& scratch) const;

  struct Compiled {
    pcre2_code* code = nullptr;
    bool jit = false;
  };
  static Compiled compile(const std::string& pattern, uint32_t options, std::string_view shown,
                          const std::string& where);

  Compiled plain_;  // PCRE2's own Unicode tables
  Compiled newer_;  // plus unicode_delta(); code is null when that changes nothing
  std::string where_;
};

}  // namespace dsx::tok
