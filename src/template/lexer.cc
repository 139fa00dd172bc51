// The lexer: splits the source into text and tags, applies whitespace control, and tokenizes
// the inside of {{ }} and {% %}. Whitespace control follows Jinja2's lexer exactly, because chat
// templates depend on it byte for byte:
//  - `{%-`, `{{-`, `{#-` strip all whitespace before the tag; `-%}`, `-}}`, `-#}` after it.
//  - trim_blocks drops one newline right after `%}` or `#}` (not after `}}`, not after `+%}`).
//  - lstrip_blocks drops spaces and tabs between the start of a line and `{%` or `{#`
//    (not `{{`, not `{%+`); "start of a line" includes the start of the template and the spot
//    right after a tag whose trimming consumed a newline.
#include <string>

#include "core/core.h"
#include "template/ast.h"

namespace dsx::tpl {

void fail(const std::string& what, Pos pos) {
  // Messages quote names and keys from the template and its data; keep them on one line.
  std::string msg = "template: ";
  for (char c : what) {
    if (c == '\n') {
      msg += "\\n";
    } else {
      msg += c == '\r' ? ' ' : c;
    }
  }
  throw Error(msg + " at line " + std::to_string(pos.line) + " col " + std::to_string(pos.col));
}

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_char(char c) {
  return is_name_start(c) || is_digit(c);
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Lexer {
 public:
  Lexer(std::string source, const TemplateOptions& options)
      : src_(std::move(source)), opt_(options) {}

  std::vector<Token> run() {
    size_t pos = 0;
    while (pos < src_.size()) {
      size_t start = find_tag(pos);
      std::string text = src_.substr(pos, start - pos);
      if (start == src_.size()) {
        emit_text(std::move(text), pos);
        break;
      }
      char kind = src_[start + 1];  // '{', '%' or '#'
      char mod = start + 2 < src_.size() ? src_[start + 2] : '\0';
      if (mod != '-' && (mod != '+' || kind == '{')) mod = '\0';
      if (mod == '-') {
        while (!text.empty() && is_space(text.back())) text.pop_back();
      } else if (kind != '{' && mod != '+' && opt_.lstrip_blocks) {
        lstrip_line_end(text);
      }
      emit_text(std::move(text), pos);
      size_t body = start + 2 + (mod ? 1 : 0);
      if (kind == '#') {
        pos = lex_comment(start, body);
      } else if (kind == '%' && starts_raw(body)) {
        pos = lex_raw(start, body);
      } else {
        pos = lex_tag(start, body, kind == '{');
      }
    }
    tokens_.push_back({Tok::kEnd, "", pos_at(src_.size())});
    return std::move(tokens_);
  }

 private:
  // The first "{{", "{%" or "{#" at or after `from`, or the end of the source.
  size_t find_tag(size_t from) const {
    for (size_t i = from; i + 1 < src_.size(); ++i) {
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) {
        return i;
      }
    }
    return src_.size();
  }

  // lstrip_blocks: drop the spaces and tabs before a tag if nothing else precedes it on its line.
  void lstrip_line_end(std::string& text) const {
    size_t nl = text.rfind('\n');
    size_t line_start = nl == std::string::npos ? 0 : nl + 1;
    if (line_start == 0 && !line_starting_) return;
    for (size_t i = line_start; i < text.size(); ++i) {
      if (!is_space(text[i])) return;
    }
    text.resize(line_start);
  }

  void emit_text(std::string text, size_t at) {
    if (!text.empty()) tokens_.push_back({Tok::kText, std::move(text), pos_at(at)});
  }

  // Consumes what follows a tag's end delimiter: all whitespace after '-', one newline for
  // trim_blocks. Returns the position after it and records whether a line now starts there.
  size_t after_tag(size_t end, char mod, bool is_block) {
    size_t p = end;
    if (mod == '-') {
      while (p < src_.size() && is_space(src_[p])) ++p;
    } else if (mod != '+' && is_block && opt_.trim_blocks && p < src_.size() && src_[p] == '\n') {
      ++p;
    }
    line_starting_ = p > end && src_[p - 1] == '\n';
    return p;
  }

  size_t lex_comment(size_t start, size_t body) {
    size_t close = src_.find("#}", body);
    if (close == std::string::npos) fail("unterminated comment '{#'", pos_at(start));
    char mod =
        close > body && (src_[close - 1] == '-' || src_[close - 1] == '+') ? src_[close - 1] : '\0';
    return after_tag(close + 2, mod, true);
  }

  bool starts_raw(size_t body) const {
    size_t p = body;
    while (p < src_.size() && is_space(src_[p])) ++p;
    return src_.compare(p, 3, "raw") == 0 && (p + 3 >= src_.size() || !is_name_char(src_[p + 3]));
  }

  // {% raw %}...{% endraw %}: the body is text, whatever it contains.
  size_t lex_raw(size_t start, size_t body) {
    size_t p = src_.find("raw", body) + 3;
    while (p < src_.size() && is_space(src_[p])) ++p;
    char mod = '\0';
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) mod = src_[p++];
    if (src_.compare(p, 2, "%}") != 0) fail("expected '%}' after 'raw'", pos_at(p));
    size_t content = after_tag(p + 2, mod, true);
    for (size_t q = src_.find("{%", content); q != std::string::npos; q = src_.find("{%", q + 2)) {
      size_t r = q + 2;
      char open_mod = r < src_.size() && (src_[r] == '-' || src_[r] == '+') ? src_[r] : '\0';
      if (open_mod) ++r;
      while (r < src_.size() && is_space(src_[r])) ++r;
      if (src_.compare(r, 6, "endraw") != 0) continue;
      r += 6;
      while (r < src_.size() && is_space(src_[r])) ++r;
      char close_mod = '\0';
      if (r < src_.size() && (src_[r] == '-' || src_[r] == '+')) close_mod = src_[r++];
      if (src_.compare(r, 2, "%}") != 0) fail("expected '%}' after 'endraw'", pos_at(r));
      std::string text = src_.substr(content, q - content);
      if (open_mod == '-') {
        while (!text.empty() && is_space(text.back())) text.pop_back();
      } else if (open_mod != '+' && opt_.lstrip_blocks) {
        lstrip_line_end(text);
      }
      emit_text(std::move(text), content);
      return after_tag(r + 2, close_mod, true);
    }
    fail("unterminated 'raw' block, expected 'endraw'", pos_at(start));
  }

  // Tokens of a {{ }} or {% %} tag, up to its end delimiter outside any brackets.
  size_t lex_tag(size_t start, size_t body, bool is_var) {
    tokens_.push_back({is_var ? Tok::kVarBegin : Tok::kBlockBegin, "", pos_at(start)});
    const char* close = is_var ? "}}" : "%}";
    int depth = 0;
    size_t p = body;
    while (true) {
      while (p < src_.size() && is_space(src_[p])) ++p;
      if (p >= src_.size()) {
        fail(std::string("unterminated tag '") + (is_var ? "{{" : "{%") + "', expected '" + close +
                 "'",
             pos_at(start));
      }
      if (depth == 0) {
        char mod = (src_[p] == '-' || (src_[p] == '+' && !is_var)) ? src_[p] : '\0';
        if (src_.compare(p + (mod ? 1 : 0), 2, close) == 0) {
          tokens_.push_back({is_var ? Tok::kVarEnd : Tok::kBlockEnd, "", pos_at(p)});
          return after_tag(p + (mod ? 3 : 2), mod, !is_var);
        }
      }
      p = lex_token(p, depth);
    }
  }

  size_t lex_token(size_t p, int& depth) {
    Pos pos = pos_at(p);
    char c = src_[p];
    if (is_name_start(c)) {
      size_t e = p;
      while (e < src_.size() && is_name_char(src_[e])) ++e;
      tokens_.push_back({Tok::kName, src_.substr(p, e - p), pos});
      return e;
    }
    if (is_digit(c)) return lex_number(p, pos);
    if (c == '\'' || c == '"') return lex_string(p, pos);
    static const char* const kTwo[] = {"**", "//", "==", "!=", "<=", ">="};
    for (const char* op : kTwo) {
      if (src_.compare(p, 2, op) == 0) {
        tokens_.push_back({Tok::kOp, op, pos});
        return p + 2;
      }
    }
    if (std::string_view("+-*/%~<>=()[]{},.:|").find(c) == std::string_view::npos) {
      fail(std::string("unexpected character '") + c + "'", pos);
    }
    if (c == '(' || c == '[' || c == '{') ++depth;
    if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
    tokens_.push_back({Tok::kOp, std::string(1, c), pos});
    return p + 1;
  }

  size_t lex_number(size_t p, Pos pos) {
    size_t e = p;
    auto digits = [&] {
      while (e < src_.size() && (is_digit(src_[e]) ||
                                 (src_[e] == '_' && e + 1 < src_.size() && is_digit(src_[e + 1]))))
        ++e;
    };
    digits();
    bool is_float = false;
    if (e + 1 < src_.size() && src_[e] == '.' && is_digit(src_[e + 1])) {
      is_float = true;
      ++e;
      digits();
    }
    if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
      size_t x = e + 1;
      if (x < src_.size() && (src_[x] == '+' || src_[x] == '-')) ++x;
      if (x < src_.size() && is_digit(src_[x])) {
        is_float = true;
        e = x;
        digits();
      }
    }
    std::string text;
    for (size_t i = p; i < e; ++i) {
      if (src_[i] != '_') text += src_[i];
    }
    tokens_.push_back({is_float ? Tok::kFloat : Tok::kInt, text, pos});
    return e;
  }

  // Python string literal escapes, which is what Jinja2 applies.
  size_t lex_string(size_t p, Pos pos) {
    char quote = src_[p];
    std::string out;
    size_t i = p + 1;
    while (true) {
      if (i >= src_.size()) fail("unterminated string literal", pos);
      char c = src_[i];
      if (c == quote) break;
      if (c != '\\' || i + 1 >= src_.size()) {
        out += c;
        ++i;
        continue;
      }
      char e = src_[i + 1];
      i += 2;
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case '0':
          out += '\0';
          break;
        case 'a':
          out += '\a';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'v':
          out += '\v';
          break;
        case '\\':
          out += '\\';
          break;
        case '\'':
          out += '\'';
          break;
        case '"':
          out += '"';
          break;
        case '\n':
          break;  // a backslash-newline continues the line
        case 'x':
        case 'u':
        case 'U': {
          size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          uint32_t cp = 0;
          for (size_t k = 0; k < n; ++k, ++i) {
            char h = i < src_.size() ? src_[i] : '\0';
            int v = is_digit(h)              ? h - '0'
                    : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                    : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                             : -1;
            if (v < 0) fail(std::string("invalid \\") + e + " escape in string literal", pos);
            cp = cp * 16 + static_cast<uint32_t>(v);
          }
          if (cp > 0x10FFFF) fail("invalid \\U escape in string literal", pos);
          append_utf8(out, cp);
          break;
        }
        default:  // unknown escapes keep their backslash, as in Python
          out += '\\';
          out += e;
      }
    }
    tokens_.push_back({Tok::kString, std::move(out), pos});
    return i + 1;
  }

  // Line and column (in code points, 1-based) of a byte offset. Offsets are requested in
  // increasing order, so a cursor makes this linear over the whole source.
  Pos pos_at(size_t offset) {
    if (offset < cursor_) cursor_ = 0, line_ = 1, col_ = 1;
    for (; cursor_ < offset && cursor_ < src_.size(); ++cursor_) {
      unsigned char c = static_cast<unsigned char>(src_[cursor_]);
      if (c == '\n') {
        ++line_;
        col_ = 1;
      } else if ((c & 0xC0) != 0x80) {
        ++col_;
      }
    }
    return {line_, col_};
  }

  std::string src_;
  TemplateOptions opt_;
  std::vector<Token> tokens_;
  bool line_starting_ = true;
  size_t cursor_ = 0;
  int line_ = 1;
  int col_ = 1;
};

}  // namespace

std::vector<Token> lex(std::string_view source, const TemplateOptions& options) {
  // Jinja2 normalizes every newline to "\n" and drops one trailing newline before lexing.
  std::string src;
  src.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      src += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      src += source[i];
    }
  }
  if (!options.keep_trailing_newline && !src.empty() && src.back() == '\n') src.pop_back();
  return Lexer(std::move(src), options).run();
}

}  // namespace dsx::tpl
