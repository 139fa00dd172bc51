// Python methods on strings and dicts ("a,b".split(","), message.get("content", "")) and the two
// string formatting mini-languages ('%s' % x and '{}'.format(x)). Mutating methods (append,
// update, ...) fail, as they do in transformers' ImmutableSandboxedEnvironment.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "template/value.h"

namespace dsx::tpl {
namespace {

bool is_cased_lower(char c) {
  return c >= 'a' && c <= 'z';
}
bool is_cased_upper(char c) {
  return c >= 'A' && c <= 'Z';
}

const std::string& self_str(const Value& v) {
  return v.json().get_ref<const std::string&>();
}

std::string str_param(const Params& p, size_t i, const std::string& what, Pos pos) {
  if (!p.has(i) || !p.get(i)->is_string()) fail(what + " expects a string argument", pos);
  return p.get(i)->json().get<std::string>();
}

long long int_param(const Params& p, size_t i, long long dflt, const std::string& what, Pos pos) {
  if (!p.has(i) || (p.get(i)->is_data() && p.get(i)->json().is_null())) return dflt;
  if (!p.get(i)->is_data() || !is_int(p.get(i)->json()))
    fail(what + " expects an integer argument", pos);
  return as_int(p.get(i)->json());
}

// str.split / str.rsplit, including the whitespace form (no separator).
Json split(const std::string& s, const Value* sep, long long maxsplit, bool from_right, Pos pos) {
  std::vector<std::string> parts;
  if (sep && sep->is_data() && !sep->json().is_null()) {
    if (!sep->is_string()) fail("split separator must be a string", pos);
    const std::string& d = self_str(*sep);
    if (d.empty()) fail("empty separator", pos);
    if (!from_right) {
      size_t start = 0;
      for (long long n = 0; maxsplit < 0 || n < maxsplit; ++n) {
        size_t hit = s.find(d, start);
        if (hit == std::string::npos) break;
        parts.push_back(s.substr(start, hit - start));
        start = hit + d.size();
      }
      parts.push_back(s.substr(start));
    } else {
      size_t end = s.size();  // parts are collected last first, then reversed
      for (long long n = 0; maxsplit < 0 || n < maxsplit; ++n) {
        if (end < d.size()) break;
        size_t hit = s.rfind(d, end - d.size());
        if (hit == std::string::npos) break;
        parts.push_back(s.substr(hit + d.size(), end - hit - d.size()));
        end = hit;
      }
      parts.push_back(s.substr(0, end));
      std::reverse(parts.begin(), parts.end());
    }
    return Json(parts);
  }
  // Whitespace: runs of whitespace separate, and leading/trailing whitespace yields nothing.
  std::vector<std::pair<size_t, size_t>> words;  // byte ranges
  for (size_t i = 0; i < s.size();) {
    size_t at = i;
    if (is_py_space(utf8_decode(s, i))) continue;
    size_t end = i;
    while (end < s.size()) {
      size_t next = end;
      if (is_py_space(utf8_decode(s, next))) break;
      end = next;
    }
    words.emplace_back(at, end);
    i = end;
  }
  long long n = static_cast<long long>(words.size());
  auto word = [&](size_t k) { return s.substr(words[k].first, words[k].second - words[k].first); };
  if (maxsplit < 0 || maxsplit >= n) {
    for (size_t k = 0; k < words.size(); ++k) parts.push_back(word(k));
  } else if (!from_right) {  // the rest keeps its trailing whitespace, as in Python
    for (long long k = 0; k < maxsplit; ++k) parts.push_back(word(static_cast<size_t>(k)));
    parts.push_back(s.substr(words[static_cast<size_t>(maxsplit)].first));
  } else {
    size_t first_kept = static_cast<size_t>(n - maxsplit);
    parts.push_back(s.substr(0, words[first_kept - 1].second));
    for (size_t k = first_kept; k < words.size(); ++k) parts.push_back(word(k));
  }
  return Json(parts);
}

bool affix_match(const std::string& s, const Value& arg, bool prefix, Pos pos) {
  auto one = [&](const Json& a) {
    if (!a.is_string())
      fail(std::string(prefix ? "startswith" : "endswith") + " expects strings", pos);
    const std::string& x = a.get_ref<const std::string&>();
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0
                  : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (arg.is_array()) return std::any_of(arg.json().begin(), arg.json().end(), one);
  if (!arg.is_data())
    fail(std::string(prefix ? "startswith" : "endswith") + " expects a string", pos);
  return one(arg.json());
}

std::string py_title(std::string s) {
  bool prev_cased = false;
  for (char& c : s) {
    if (is_cased_lower(c) || is_cased_upper(c)) {
      if (prev_cased && is_cased_upper(c)) c = static_cast<char>(c - 'A' + 'a');
      if (!prev_cased && is_cased_lower(c)) c = static_cast<char>(c - 'a' + 'A');
      prev_cased = true;
    } else {
      prev_cased = false;
    }
  }
  return s;
}

// Both formatting languages reduce to this: one value under a spec.
struct Spec {
  char fill = ' ';
  char align = '\0';  // < > ^ =, or default
  char sign = '-';
  bool alt = false;
  bool zero = false;
  long long width = 0;
  long long precision = -1;
  char type = '\0';
};

std::string format_one(const Value& v, const Spec& spec, Pos pos) {
  std::string body, sign;
  bool numeric = false;
  char type = spec.type;
  bool number = v.is_number() && !v.json().is_boolean();
  if (!type)
    type = !number ? 's' : !v.json().is_number_float() ? 'd' : spec.precision >= 0 ? 'g' : 'R';
  if (type == 'R') {  // a float with no type: Python's repr
    double d = v.json().get<double>();
    numeric = true;
    body = float_repr(std::fabs(d));
    if (std::signbit(d)) sign = "-";
  } else if (type == 's') {
    body = to_str(v);
    if (spec.precision >= 0) {  // keep the first `precision` characters
      std::vector<std::string_view> cps = code_points(body);
      if (static_cast<long long>(cps.size()) > spec.precision) {
        const std::string_view& last = cps[static_cast<size_t>(spec.precision)];
        body.resize(static_cast<size_t>(last.data() - body.data()));
      }
    }
  } else {
    if (!v.is_number())
      fail(std::string("format code '") + type + "' needs a number, not " + type_name(v), pos);
    numeric = true;
    const Json& j = v.json();
    char buf[512];
    if (type == 'd' || type == 'i' || type == 'x' || type == 'X' || type == 'o' || type == 'c') {
      long long x = as_int(j);
      if (type == 'c') {
        numeric = false;
        std::string s;
        if (x >= 0 && x < 0x80) s += static_cast<char>(x);
        body = s;
      } else {
        unsigned long long mag =
            x < 0 ? 0ULL - static_cast<unsigned long long>(x) : static_cast<unsigned long long>(x);
        const char* f = type == 'x' ? "%llx" : type == 'X' ? "%llX" : type == 'o' ? "%llo" : "%llu";
        std::snprintf(buf, sizeof buf, f, mag);
        body = buf;
        if (spec.alt && type != 'd' && type != 'i')
          body = std::string(type == 'o' ? "0o" : type == 'x' ? "0x" : "0X") + body;
        if (x < 0) sign = "-";
      }
    } else if (std::string_view("fFeEgG%").find(type) != std::string_view::npos) {
      double d = as_double(j);
      int prec = static_cast<int>(std::min(spec.precision < 0 ? 6 : spec.precision, 300LL));
      bool percent = type == '%';
      double x = std::fabs(percent ? d * 100 : d);
      char f[8] = {'%', '.', '*', percent ? 'f' : type, '\0'};
      std::snprintf(buf, sizeof buf, f, prec, x);
      body = std::string(buf) + (percent ? "%" : "");
      if (std::signbit(d)) sign = "-";
    } else {
      fail(std::string("unsupported format code '") + type + "'", pos);
    }
  }
  if (numeric && sign.empty() && spec.sign != '-') sign = std::string(1, spec.sign);
  long long len = static_cast<long long>(utf8_length(sign + body));
  long long pad =
      std::min<long long>(std::max(0LL, spec.width - len), static_cast<long long>(kMaxValueBytes));
  char align = spec.align ? spec.align : spec.zero && numeric ? '=' : numeric ? '>' : '<';
  char fill = spec.zero && !spec.align ? '0' : spec.fill;
  std::string fills(static_cast<size_t>(pad), fill);
  if (align == '<') return sign + body + fills;
  if (align == '>') return fills + sign + body;
  if (align == '=') return sign + fills + body;
  size_t left = static_cast<size_t>(pad / 2);
  return fills.substr(0, left) + sign + body + fills.substr(left);
}

Value positional_or_named(const CallArgs& args, const std::string& key, size_t& next_index,
                          Pos pos) {
  if (key.empty() ||
      std::all_of(key.begin(), key.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (key.size() > 9) fail("format: replacement index " + key + " out of range", pos);
    size_t i = key.empty() ? next_index++ : std::stoul(key);
    if (i >= args.positional.size())
      fail("format: replacement index " + std::to_string(i) + " out of range", pos);
    return args.positional[i];
  }
  for (const auto& [k, v] : args.named) {
    if (k == key) return v;
  }
  fail("format: no argument named '" + key + "'", pos);
}

Spec parse_format_spec(const std::string& s, Pos pos) {
  Spec spec;
  size_t i = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (s.size() >= 2 && is_align(s[1])) {
    spec.fill = s[0];
    spec.align = s[1];
    i = 2;
  } else if (!s.empty() && is_align(s[0])) {
    spec.align = s[0];
    i = 1;
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) spec.sign = s[i++];
  if (i < s.size() && s[i] == '#') spec.alt = true, ++i;
  if (i < s.size() && s[i] == '0') spec.zero = true, ++i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && spec.width < 1'000'000)
    spec.width = spec.width * 10 + (s[i++] - '0');
  if (i < s.size() && s[i] == '.') {
    spec.precision = 0;
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9' && spec.precision < 1000; ++i)
      spec.precision = spec.precision * 10 + (s[i] - '0');
  }
  if (i < s.size()) spec.type = s[i++];
  if (i != s.size()) fail("unsupported format spec '" + s + "'", pos);
  return spec;
}

Value string_method(const Value& self, const std::string& name, const CallArgs& args, Pos pos) {
  const std::string& s = self_str(self);
  std::string what = "str." + name + "()";
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    Params p(args, {"chars"}, what, pos);
    return Value::of(py_strip(s, p.get(0), name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    Params p(args, {"sep", "maxsplit"}, what, pos);
    return Value::of(split(s, p.get(0), int_param(p, 1, -1, what, pos), name == "rsplit", pos));
  }
  if (name == "splitlines") {
    Params p(args, {"keepends"}, what, pos);
    Json lines = Json::array();
    size_t start = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '\n' && s[i] != '\r') continue;
      size_t end = i;
      if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      lines.push_back(s.substr(start, (p.has(0) && truthy(*p.get(0)) ? i + 1 : end) - start));
      start = i + 1;
    }
    if (start < s.size()) lines.push_back(s.substr(start));
    return Value::of(std::move(lines));
  }
  if (name == "startswith" || name == "endswith") {
    Params p(args, {"prefix"}, what, pos);
    if (!p.has(0)) fail(what + " needs an argument", pos);
    return Value::of(affix_match(s, *p.get(0), name == "startswith", pos));
  }
  if (name == "replace") {
    Params p(args, {"old", "new", "count"}, what, pos);
    if (!p.has(0) || !p.has(1)) fail(what + " needs old and new strings", pos);
    CallArgs fa;
    fa.positional = {*p.get(0), *p.get(1)};
    if (p.has(2)) fa.positional.push_back(*p.get(2));
    return apply_filter("replace", self, fa, pos);
  }
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize" ||
      name == "swapcase") {
    Params p(args, {}, what, pos);
    if (name == "upper") return Value::of(ascii_upper(s));
    if (name == "lower") return Value::of(ascii_lower(s));
    if (name == "title") return Value::of(py_title(s));
    std::string out = name == "capitalize" ? ascii_lower(s) : s;
    if (name == "capitalize" && !out.empty() && is_cased_lower(out[0]))
      out[0] = static_cast<char>(out[0] - 'a' + 'A');
    if (name == "swapcase") {
      for (char& c : out)
        c = is_cased_lower(c)   ? static_cast<char>(c - 'a' + 'A')
            : is_cased_upper(c) ? static_cast<char>(c - 'A' + 'a')
                                : c;
    }
    return Value::of(std::move(out));
  }
  if (name == "format") return Value::of(str_format(s, args, pos));
  if (name == "find" || name == "rfind" || name == "count") {
    Params p(args, {"sub"}, what, pos);
    std::string sub = str_param(p, 0, what, pos);
    if (name == "count") {
      if (sub.empty()) return Value::of(utf8_length(s) + 1);
      long long n = 0;
      for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
      return Value::of(n);
    }
    size_t at = name == "find" ? s.find(sub) : s.rfind(sub);
    return Value::of(at == std::string::npos
                         ? -1LL
                         : static_cast<long long>(utf8_length(std::string_view(s).substr(0, at))));
  }
  if (name == "join") {
    Params p(args, {"iterable"}, what, pos);
    if (!p.has(0)) fail(what + " needs an argument", pos);
    std::string out;
    bool first = true;
    for (const Value& item : iterate(*p.get(0), pos)) {
      if (!item.is_string()) fail(what + " expects strings, not " + type_name(item), pos);
      if (!first) out += s;
      first = false;
      out += self_str(item);
    }
    return Value::of(std::move(out));
  }
  if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" ||
      name == "islower" || name == "isupper") {
    Params p(args, {}, what, pos);
    if (name == "islower" || name == "isupper") {
      return apply_test(name.substr(2), self, {}, pos) ? Value::of(true) : Value::of(false);
    }
    bool ok = !s.empty();
    for (size_t i = 0; i < s.size() && ok;) {
      uint32_t c = utf8_decode(s, i);
      bool digit = c >= '0' && c <= '9';
      bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      ok = name == "isdigit"   ? digit
           : name == "isalpha" ? alpha
           : name == "isalnum" ? digit || alpha
                               : is_py_space(c);
    }
    return Value::of(ok);
  }
  fail("unsupported method " + what, pos);
}

Value dict_method(const Value& self, const std::string& name, const CallArgs& args, Pos pos) {
  const Json& d = self.json();
  std::string what = "dict." + name + "()";
  if (name == "items" || name == "keys" || name == "values") {
    Params p(args, {}, what, pos);
    Json out = Json::array();
    for (auto it = d.begin(); it != d.end(); ++it) {
      if (name == "items") out.push_back(Json::array({it.key(), it.value()}));
      if (name == "keys") out.push_back(it.key());
      if (name == "values") out.push_back(it.value());
    }
    return Value::of(std::move(out));
  }
  if (name == "get") {
    Params p(args, {"key", "default"}, what, pos);
    if (!p.has(0)) fail(what + " needs a key", pos);
    if (p.get(0)->is_string()) {
      auto it = d.find(self_str(*p.get(0)));
      if (it != d.end()) return self.child(*it);
    }
    return p.has(1) ? *p.get(1) : Value::of(nullptr);
  }
  static const char* const kMutating[] = {"update", "pop", "popitem", "setdefault", "clear"};
  for (const char* m : kMutating) {
    if (name == m) fail(what + " is not allowed: templates cannot modify values", pos);
  }
  fail("unsupported method " + what, pos);
}

}  // namespace

Value call_method(const Value& self, const std::string& name, const CallArgs& args, Pos pos) {
  if (self.is_string()) return string_method(self, name, args, pos);
  if (self.is_object()) return dict_method(self, name, args, pos);
  std::string what = type_name(self) + "." + name + "()";
  static const char* const kMutating[] = {"append", "extend", "insert",  "pop",
                                          "remove", "sort",   "reverse", "clear"};
  for (const char* m : kMutating) {
    if (self.is_array() && name == m)
      fail(what + " is not allowed: templates cannot modify values", pos);
  }
  fail("unsupported method " + what, pos);
}

std::string str_format(const std::string& fmt, const CallArgs& args, Pos pos) {
  std::string out;
  size_t next_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if ((c == '{' || c == '}') && i + 1 < fmt.size() && fmt[i + 1] == c) {
      out += c;
      ++i;
      continue;
    }
    if (c == '}') fail("format: single '}' in format string", pos);
    if (c != '{') {
      out += c;
      continue;
    }
    size_t close = fmt.find('}', i);
    if (close == std::string::npos) fail("format: single '{' in format string", pos);
    std::string field = fmt.substr(i + 1, close - i - 1);
    std::string spec;
    if (size_t colon = field.find(':'); colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field.resize(colon);
    }
    char conv = '\0';
    if (size_t bang = field.find('!'); bang != std::string::npos) {
      conv = bang + 1 < field.size() ? field[bang + 1] : '\0';
      field.resize(bang);
    }
    if (field.find_first_of(".[") != std::string::npos)
      fail("format: unsupported field '" + field + "'", pos);
    Value v = positional_or_named(args, field, next_index, pos);
    if (conv == 'r') v = Value::of(v.is_data() ? repr(v.json()) : to_str(v));
    out += format_one(v, parse_format_spec(spec, pos), pos);
    if (out.size() > kMaxValueBytes) fail("formatted string too long", pos);
    i = close;
  }
  return out;
}

std::string percent_format(const std::string& fmt, const Value& args, Pos pos) {
  std::vector<Value> list;
  bool is_tuple = args.is_array();
  if (is_tuple) {
    for (const Json& j : args.json()) list.push_back(args.child(j));
  } else {
    list.push_back(args);
  }
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i >= fmt.size()) fail("format: incomplete format", pos);
    if (fmt[i] == '%') {
      out += '%';
      continue;
    }
    Value v;
    bool have = false;
    if (fmt[i] == '(') {
      size_t close = fmt.find(')', i);
      if (close == std::string::npos || !args.is_object())
        fail("format: mapping key needs a dict argument", pos);
      v = get_attr(args, fmt.substr(i + 1, close - i - 1));
      if (v.is_undefined())
        fail("format: missing key '" + fmt.substr(i + 1, close - i - 1) + "'", pos);
      have = true;
      i = close + 1;
    }
    Spec spec;
    spec.align = '>';
    for (; i < fmt.size() && std::string_view("-+ #0").find(fmt[i]) != std::string_view::npos;
         ++i) {
      if (fmt[i] == '-') spec.align = '<';
      if (fmt[i] == '+' || fmt[i] == ' ') spec.sign = fmt[i];
      if (fmt[i] == '#') spec.alt = true;
      if (fmt[i] == '0') spec.zero = true;
    }
    while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9' && spec.width < 1'000'000)
      spec.width = spec.width * 10 + (fmt[i++] - '0');
    if (i < fmt.size() && fmt[i] == '.') {
      spec.precision = 0;
      for (++i; i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9' && spec.precision < 1000; ++i)
        spec.precision = spec.precision * 10 + (fmt[i] - '0');
    }
    if (i >= fmt.size()) fail("format: incomplete format", pos);
    spec.type = fmt[i] == 'i' ? 'd' : fmt[i];
    if (spec.zero && spec.align == '>') spec.align = '\0';
    if (!have) {
      if (next >= list.size()) fail("format: not enough arguments for format string", pos);
      v = list[next++];
    }
    if (std::string_view("srdxXofFeEgGc").find(spec.type) == std::string_view::npos) {
      fail(std::string("format: unsupported format character '") + spec.type + "'", pos);
    }
    if (spec.type == 'r') v = Value::of(v.is_data() ? repr(v.json()) : to_str(v)), spec.type = 's';
    out += format_one(v, spec, pos);
    if (out.size() > kMaxValueBytes) fail("formatted string too long", pos);
  }
  if (next < list.size() && !args.is_object())
    fail("format: not all arguments converted during string formatting", pos);
  return out;
}

}  // namespace dsx::tpl
