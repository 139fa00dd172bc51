#include "tokenizer/regex.h"

#include <algorithm>
#include <cstdio>

#include "core/core.h"
#include "tokenizer/unicode_delta.h"
#include "tokenizer/utf8.h"

namespace dsx::tok {
namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(code, buffer, sizeof buffer) < 0)
    return "error " + std::to_string(code);
  return reinterpret_cast<const char*>(buffer);
}

// Unicode White_Space: what Oniguruma's \s matches. PCRE2's \s also takes U+180E (MONGOLIAN
// VOWEL SEPARATOR, no longer a space since Unicode 6.3), so patterns spell the set out.
constexpr std::string_view kWhiteSpace =
    R"(\t\n\x0B\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

// The characters of general category `name` ("L", "Lo", ...) that PCRE2's tables lack, as
// class members ("\x{..}-\x{..}..."); empty if none.
std::string category_delta(std::string_view name, bool with_delta) {
  std::string members;
  if (!with_delta) return members;
  for (const CategoryRange& r : unicode_delta()) {
    const std::string_view category(r.category, 2);
    if (category == name || (name.size() == 1 && category[0] == name[0])) {
      char buffer[40];
      std::snprintf(buffer, sizeof buffer, "\\x{%X}-\\x{%X}", unsigned(r.first), unsigned(r.last));
      members += buffer;
    }
  }
  return members;
}

// Rewrites the Oniguruma (Ruby syntax) pattern of tokenizer.json for PCRE2:
//  - \s and \S become the explicit White_Space set (inside a class \s is spliced in; \S there
//    stays PCRE2's, which differs only on U+180E);
//  - \p{X} for a general category gains the characters PCRE2's older tables lack, and \P{X}
//    (outside a class; inside one it stays PCRE2's) loses them.
// Everything else used by released tokenizers means the same in both.
std::string onig_to_pcre2(std::string_view pattern, bool with_delta) {
  std::string out;
  out.reserve(pattern.size() + 64);
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size() && (pattern[i + 1] == 'p' || pattern[i + 1] == 'P')) {
      // \pL, \p{L}, \p{^L} and \P{L}.
      const size_t open = i + 2;
      size_t end = open + 1;  // one past the property spelling
      std::string_view name = pattern.substr(open, 1);
      if (open < pattern.size() && pattern[open] == '{') {
        end = pattern.find('}', open);
        end = end == std::string_view::npos ? pattern.size() : end + 1;
        name = pattern.substr(open + 1, end - open - 2);
      }
      bool negated = pattern[i + 1] == 'P';
      if (name.starts_with('^')) negated = !negated, name.remove_prefix(1);
      const std::string delta = name.size() <= 2 ? category_delta(name, with_delta) : "";
      const std::string_view spelled = pattern.substr(i, end - i);
      const std::string base = "\\p{" + std::string(name) + "}";
      if (delta.empty() || (negated && in_class)) {
        out.append(spelled);
      } else if (in_class) {
        out.append(base).append(delta);
      } else {
        // One class rather than an alternation: PCRE2 optimises classes much better.
        out.append(negated ? "[^" : "[").append(base).append(delta).append("]");
      }
      i = end - 1;
      continue;
    }
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[++i];
      if (e == 's' && in_class) {
        out.append(kWhiteSpace);
      } else if (e == 's' || (e == 'S' && !in_class)) {
        out.append(e == 's' ? "[" : "[^").append(kWhiteSpace).append("]");
      } else {
        out.push_back(c);
        out.push_back(e);
      }
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out.push_back(c);
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out.push_back(pattern[++i]);
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out.push_back(pattern[++i]);
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out.push_back(c);
  }
  return out;
}

// The default 32 KiB JIT stack is plenty for these patterns on ordinary text; a pathological
// input (a huge run that a pattern backtracks over) retries once with this much.
constexpr size_t kLargeJitStack = 16u << 20;

}  // namespace

bool contains_unicode_delta(std::string_view text) {
  const auto ranges = unicode_delta();
  if (ranges.empty()) return false;
  const char32_t lowest = ranges.front().first;
  for (size_t i = 0; i < text.size();) {
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    int len = 0;
    const char32_t cp = decode_utf8(text, i, &len);
    i += len;
    if (cp < lowest) continue;
    // The last range starting at or before cp.
    const auto after =
        std::upper_bound(ranges.begin(), ranges.end(), cp,
                         [](char32_t c, const CategoryRange& r) { return c < r.first; });
    if (after != ranges.begin() && cp <= std::prev(after)->last) return true;
  }
  return false;
}

MatchScratch::MatchScratch() : data_(pcre2_match_data_create(1, nullptr)) {
  if (data_ == nullptr) throw std::bad_alloc();
}

MatchScratch::~MatchScratch() {
  pcre2_match_data_free(data_);
  pcre2_match_context_free(context_);
  pcre2_jit_stack_free(jit_stack_);
}

Regex::Compiled Regex::compile(const std::string& pattern, uint32_t options,
                               std::string_view shown_pattern, const std::string& where) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  Compiled c;
  c.code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                         &error, &offset, nullptr);
  if (c.code == nullptr) {
    std::string shown;  // control characters escaped: the message stays on one line
    for (const char ch : shown_pattern) {
      if (static_cast<unsigned char>(ch) < 0x20) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "\\x%02x", ch);
        shown += hex;
      } else {
        shown.push_back(ch);
      }
    }
    throw Error(where + ": cannot compile regex '" + shown + "': " + pcre2_message(error));
  }
  // Without JIT support (some platforms) the interpreter gives the same matches, only slower.
  c.jit = pcre2_jit_compile(c.code, PCRE2_JIT_COMPLETE) == 0;
  return c;
}

Regex::Regex(std::string_view pattern, bool literal, const std::string& where) : where_(where) {
  if (literal) {
    plain_ = compile(std::string(pattern), PCRE2_UTF | PCRE2_LITERAL, pattern, where);
    return;
  }
  // Oniguruma's default (Ruby) syntax makes ^ and $ line anchors, hence MULTILINE.
  const uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE;
  const std::string plain = onig_to_pcre2(pattern, /*with_delta=*/false);
  const std::string newer = onig_to_pcre2(pattern, /*with_delta=*/true);
  plain_ = compile(plain, options, pattern, where);
  if (newer != plain) {
    try {
      newer_ = compile(newer, options, pattern, where);
    } catch (...) {
      pcre2_code_free(plain_.code);
      throw;
    }
  }
}

Regex::~Regex() {
  pcre2_code_free(plain_.code);
  pcre2_code_free(newer_.code);
}

int Regex::match(std::string_view subject, size_t start, MatchScratch& scratch) const {
  const auto* text = reinterpret_cast<PCRE2_SPTR>(subject.data());
  const Compiled& c = scratch.newer_unicode && newer_.code != nullptr ? newer_ : plain_;
  for (;;) {
    // The input was validated once up front, so PCRE2 need not check UTF-8 on every call.
    const int rc = c.jit ? pcre2_jit_match(c.code, text, subject.size(), start, 0, scratch.data_,
                                           scratch.context_)
                         : pcre2_match(c.code, text, subject.size(), start, PCRE2_NO_UTF_CHECK,
                                       scratch.data_, scratch.context_);
    if (rc != PCRE2_ERROR_JIT_STACKLIMIT || scratch.jit_stack_ != nullptr) return rc;
    scratch.context_ = pcre2_match_context_create(nullptr);
    scratch.jit_stack_ = pcre2_jit_stack_create(32 << 10, kLargeJitStack, nullptr);
    if (scratch.context_ == nullptr || scratch.jit_stack_ == nullptr) throw std::bad_alloc();
    pcre2_jit_stack_assign(scratch.context_, nullptr, scratch.jit_stack_);
  }
}

void Regex::find_all(std::string_view subject, MatchScratch& scratch,
                     std::vector<std::pair<size_t, size_t>>& out) const {
  size_t search_from = 0;
  size_t last_match_end = SIZE_MAX;
  while (search_from <= subject.size()) {
    const int rc = match(subject, search_from, scratch);
    if (rc == PCRE2_ERROR_NOMATCH) return;
    if (rc < 0) throw Error(where_ + ": regex match failed: " + pcre2_message(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(scratch.data_);
    const size_t start = ovector[0], end = ovector[1];
    if (start == end && end == last_match_end) {
      // Step over one whole character, as Oniguruma's iterator does.
      if (search_from == subject.size()) return;
      size_t step = 1;
      while (search_from + step < subject.size() &&
             (static_cast<unsigned char>(subject[search_from + step]) & 0xc0) == 0x80) {
        ++step;
      }
      search_from += step;
      continue;
    }
    if (end < start) throw Error(where_ + ": regex match ends before it starts (\\K?)");
    out.emplace_back(start, end);
    search_from = end;
    last_match_end = end;
  }
}

}  // namespace dsx::tok
