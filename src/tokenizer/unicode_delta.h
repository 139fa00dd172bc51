// Unicode general categories newer than the system PCRE2's tables. HF `tokenizers` matches its
// regexes with Oniguruma, which knows Unicode 16; Debian 12's PCRE2 10.42 knows Unicode 14, so
// without this ~10,000 characters assigned since (CJK extensions, new scripts, emoji such as
// U+1FAE8) would be "unassigned" to \p{L}, \p{S}, ... and split differently from HF.
#pragma once

#include <span>
#include <string_view>

namespace dsx::tok {

struct CategoryRange {
  char32_t first, last;
  char category[3];  // two-letter general category, e.g. "Lo", "So"
};

// Sorted, disjoint ranges (unicode_delta.cc, generated).
std::span<const CategoryRange> unicode_delta();

// Whether valid UTF-8 text holds any character of unicode_delta(). Text without one (nearly all
// text) can use patterns compiled without the extra ranges, which PCRE2 matches faster.
bool contains_unicode_delta(std::string_view text);

}  // namespace dsx::tok
