// Python semantics of values: what prints, what is true, what equals what. Templates are
// written against Python, so `{{ [1, 'a'] }}` must print "[1, 'a']" and `1 == 1.0` must hold.
#include "template/value.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace dsx::tpl {
namespace {

// Decodes one UTF-8 code point at s[i] and advances i. Invalid bytes decode as themselves,
// one byte at a time, so malformed input is passed through instead of rejected.
uint32_t decode(std::string_view s, size_t& i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  int n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : -1;
  if (n < 0 || i + static_cast<size_t>(n) >= s.size()) n = 0;
  if (n == 0) {
    ++i;
    return c;
  }
  uint32_t cp = c & (0x3F >> n);
  for (int k = 1; k <= n; ++k) {
    unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) {
      ++i;
      return c;
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  i += n + 1;
  return cp;
}

std::string quote_py(const std::string& s) {
  char q = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
  std::string out(1, q);
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (ch == '\\') {
      out += "\\\\";
    } else if (ch == q) {
      out += '\\';
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  out += q;
  return out;
}

void dump_string(const std::string& s, bool ensure_ascii, std::string& out) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    uint32_t cp = decode(s, i);
    char buf[16];
    switch (cp) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\b':
        out += "\\b";
        continue;
      case '\f':
        out += "\\f";
        continue;
      default:
        break;
    }
    if (cp < 0x20 || (ensure_ascii && cp >= 0x7F)) {
      if (cp >= 0x10000) {
        uint32_t v = cp - 0x10000;
        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      } else {
        std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      }
      out += buf;
    } else {
      out.append(s, start, i - start);
    }
  }
  out += '"';
}

void dump(const Json& j, const DumpOptions& o, int level, std::string& out) {
  auto newline = [&](int lvl) {
    if (!o.indent) return;
    out += '\n';
    for (int k = 0; k < lvl; ++k) out += *o.indent;
  };
  if (j.is_object()) {
    if (j.empty()) {
      out += "{}";
      return;
    }
    std::vector<std::pair<const std::string*, const Json*>> items;
    for (auto it = j.begin(); it != j.end(); ++it) items.emplace_back(&it.key(), &it.value());
    if (o.sort_keys) {
      std::stable_sort(items.begin(), items.end(),
                       [](auto& a, auto& b) { return *a.first < *b.first; });
    }
    out += '{';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += o.item_sep;
      newline(level + 1);
      dump_string(*items[i].first, o.ensure_ascii, out);
      out += o.key_sep;
      dump(*items[i].second, o, level + 1, out);
    }
    newline(level);
    out += '}';
  } else if (j.is_array()) {
    if (j.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    for (size_t i = 0; i < j.size(); ++i) {
      if (i) out += o.item_sep;
      newline(level + 1);
      dump(j[i], o, level + 1, out);
    }
    newline(level);
    out += ']';
  } else if (j.is_string()) {
    dump_string(j.get_ref<const std::string&>(), o.ensure_ascii, out);
  } else if (j.is_number_float()) {
    double d = j.get<double>();
    out += std::isnan(d)   ? "NaN"
           : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity")
                           : float_repr(d);
  } else {
    out += j.dump();  // integers, true, false, null
  }
}

int sign(double d) {
  return d < 0 ? -1 : d > 0 ? 1 : 0;
}

}  // namespace

// ---- UTF-8 ---------------------------------------------------------------------------------

uint32_t utf8_decode(std::string_view s, size_t& i) {
  return decode(s, i);
}

std::vector<std::string_view> code_points(std::string_view s) {
  std::vector<std::string_view> out;
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    decode(s, i);
    out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) decode(s, i);
  return n;
}

bool is_py_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string py_strip(std::string_view s, const Value* chars, bool left, bool right) {
  std::vector<std::string_view> cps = code_points(s);
  std::vector<std::string_view> set;
  bool whitespace = chars == nullptr || !chars->is_string();
  if (!whitespace) set = code_points(chars->json().get_ref<const std::string&>());
  auto strip = [&](std::string_view cp) {
    if (!whitespace) return std::find(set.begin(), set.end(), cp) != set.end();
    size_t i = 0;
    return is_py_space(decode(cp, i));
  };
  size_t b = 0, e = cps.size();
  if (left) {
    while (b < e && strip(cps[b])) ++b;
  }
  if (right) {
    while (e > b && strip(cps[e - 1])) --e;
  }
  std::string out;
  for (size_t i = b; i < e; ++i) out += cps[i];
  return out;
}

std::string ascii_upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

std::string ascii_lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// ---- Python semantics ----------------------------------------------------------------------

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  // The shortest precision that round-trips, which is what Python's repr prints.
  char buf[40];
  int prec = 1;
  for (; prec < 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
  std::string s = buf;
  bool neg = s[0] == '-';
  if (neg) s.erase(0, 1);
  size_t e = s.find('e');
  int exp = std::atoi(s.c_str() + e + 1);
  std::string digits;
  for (size_t i = 0; i < e; ++i) {
    if (s[i] != '.') digits += s[i];
  }
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out = neg ? "-" : "";
  if (exp < -4 || exp >= 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    return out + eb;
  }
  if (exp < 0) return out + "0." + std::string(-exp - 1, '0') + digits;
  if (digits.size() <= static_cast<size_t>(exp) + 1) {
    return out + digits + std::string(exp + 1 - digits.size(), '0') + ".0";
  }
  return out + digits.substr(0, exp + 1) + "." + digits.substr(exp + 1);
}

double as_double(const Json& j) {
  if (j.is_boolean()) return j.get<bool>() ? 1.0 : 0.0;
  return j.get<double>();
}

long long as_int(const Json& j) {
  if (j.is_boolean()) return j.get<bool>() ? 1 : 0;
  if (j.is_number_unsigned()) {
    unsigned long long u = j.get<unsigned long long>();
    return u > static_cast<unsigned long long>(INT64_MAX) ? INT64_MAX : static_cast<long long>(u);
  }
  if (j.is_number_float()) {
    const double d = j.get<double>();
    if (std::isnan(d)) return 0;
    return truncate_to_int(d).value_or(d < 0 ? INT64_MIN : INT64_MAX);
  }
  return j.get<long long>();
}

std::optional<long long> truncate_to_int(double d) {
  // [-2^63, 2^63) holds exactly the doubles whose truncation fits; the cast is undefined outside.
  if (!(d >= -0x1p63 && d < 0x1p63)) return std::nullopt;
  return static_cast<long long>(d);
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined:
      return false;
    case Value::Kind::kData:
      break;
    default:
      return true;
  }
  const Json& j = v.json();
  if (j.is_null()) return false;
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_float()) return j.get<double>() != 0.0;
  if (j.is_number()) return as_int(j) != 0;
  if (j.is_string())
    return !j.get_ref<const std::string&>().empty();  // json::empty() is false for strings
  if (j.is_array() || j.is_object()) return !j.empty();
  return true;
}

std::string type_name(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined:
      return "undefined";
    case Value::Kind::kNamespace:
      return "namespace";
    case Value::Kind::kMacro:
      return "macro";
    case Value::Kind::kLoop:
      return "loop";
    case Value::Kind::kData:
      break;
  }
  const Json& j = v.json();
  if (j.is_null()) return "NoneType";
  if (j.is_boolean()) return "bool";
  if (j.is_number_float()) return "float";
  if (j.is_number()) return "int";
  if (j.is_string()) return "str";
  if (j.is_array()) return "list";
  if (j.is_object()) return "dict";
  return "binary";
}

std::string quoted_type(const Value& v) {
  std::string out = "'";  // appended, not "'" + ...: GCC 12 warns (-Wrestrict) on that when inlined
  out += type_name(v);
  out += '\'';
  return out;
}

std::string repr(const Json& j) {
  if (j.is_string()) return quote_py(j.get_ref<const std::string&>());
  if (j.is_null()) return "None";
  if (j.is_boolean()) return j.get<bool>() ? "True" : "False";
  if (j.is_number_float()) return float_repr(j.get<double>());
  if (j.is_number()) return j.dump();
  std::string out;
  if (j.is_array()) {
    out = "[";
    for (size_t i = 0; i < j.size(); ++i) out += (i ? ", " : "") + repr(j[i]);
    return out + "]";
  }
  out = "{";
  bool first = true;
  for (auto it = j.begin(); it != j.end(); ++it, first = false) {
    out += (first ? "" : ", ") + quote_py(it.key()) + ": " + repr(it.value());
  }
  return out + "}";
}

std::string to_str(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined:
      return "";
    case Value::Kind::kData:
      return v.json().is_string() ? v.json().get<std::string>() : repr(v.json());
    case Value::Kind::kMacro:
      return "<Macro '" + v.macro->node->name + "'>";
    case Value::Kind::kLoop:
      return "<LoopContext " + std::to_string(v.loop->index0 + 1) + "/" +
             std::to_string(v.loop->items->size()) + ">";
    case Value::Kind::kNamespace: {
      std::string out = "<Namespace {";
      for (size_t i = 0; i < v.ns->attrs.size(); ++i) {
        const auto& [k, val] = v.ns->attrs[i];
        // A namespace inside a namespace prints without its contents: it may contain itself.
        std::string shown = val.is_data()                         ? repr(val.json())
                            : val.kind == Value::Kind::kNamespace ? "<Namespace>"
                                                                  : to_str(val);
        out += (i ? ", " : "") + quote_py(k) + ": " + shown;
      }
      return out + "}>";
    }
  }
  return "";
}

bool equals(const Json& a, const Json& b) {
  bool an = a.is_number() || a.is_boolean(), bn = b.is_number() || b.is_boolean();
  if (an || bn) {
    if (!(an && bn)) return false;
    if (is_int(a) && is_int(b) && !a.is_number_unsigned() && !b.is_number_unsigned()) {
      return as_int(a) == as_int(b);
    }
    return as_double(a) == as_double(b);
  }
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!equals(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto other = b.find(it.key());
      if (other == b.end() || !equals(it.value(), *other)) return false;
    }
    return true;
  }
  return a == b;
}

bool equals(const Value& a, const Value& b) {
  if (a.is_data() && b.is_data()) return equals(a.json(), b.json());
  if (a.is_undefined() || b.is_undefined()) return a.is_undefined() && b.is_undefined();
  return a.ns == b.ns && a.macro == b.macro && a.loop == b.loop && a.kind == b.kind;
}

int compare(const Json& a, const Json& b, Pos pos) {
  bool an = a.is_number() || a.is_boolean(), bn = b.is_number() || b.is_boolean();
  if (an && bn) {
    if (is_int(a) && is_int(b)) {
      long long x = as_int(a), y = as_int(b);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    return sign(as_double(a) - as_double(b));
  }
  if (a.is_string() && b.is_string()) {
    int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.is_array() && b.is_array()) {
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (!equals(a[i], b[i])) return compare(a[i], b[i], pos);
    }
    return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
  }
  fail("cannot order " + type_name(Value::of(a)) + " and " + type_name(Value::of(b)), pos);
}

Json to_json(const Value& v, Pos pos) {
  switch (v.kind) {
    case Value::Kind::kData:
      return v.json();
    case Value::Kind::kUndefined:
      return nullptr;  // Jinja2 would keep an Undefined here
    default:
      fail("a " + type_name(v) + " cannot be stored in a list or dict", pos);
  }
}

std::string dump_json(const Json& j, const DumpOptions& options) {
  std::string out;
  dump(j, options, 0, out);
  return out;
}

std::vector<Value> iterate(const Value& v, Pos pos) {
  std::vector<Value> out;
  if (v.is_undefined()) return out;
  if (v.is_data()) {
    const Json& j = v.json();
    if (j.is_array()) {
      out.reserve(j.size());
      for (const Json& item : j) out.push_back(v.child(item));
      return out;
    }
    if (j.is_object()) {
      for (auto it = j.begin(); it != j.end(); ++it) out.push_back(Value::of(it.key()));
      return out;
    }
    if (j.is_string()) {
      const std::string& s = j.get_ref<const std::string&>();
      if (s.size() > static_cast<size_t>(kMaxItems)) fail("string too long to iterate", pos);
      for (std::string_view cp : code_points(s)) out.push_back(Value::of(std::string(cp)));
      return out;
    }
  }
  fail("'" + type_name(v) + "' object is not iterable", pos);
}

// ---- Attribute and item access ---------------------------------------------------------------

Value Loop::get(const std::string& attr) const {
  size_t n = items->size();
  if (attr == "index") return Value::of(index0 + 1);
  if (attr == "index0") return Value::of(index0);
  if (attr == "revindex") return Value::of(n - index0);
  if (attr == "revindex0") return Value::of(n - index0 - 1);
  if (attr == "first") return Value::of(index0 == 0);
  if (attr == "last") return Value::of(index0 + 1 == n);
  if (attr == "length") return Value::of(n);
  if (attr == "depth") return Value::of(1);
  if (attr == "depth0") return Value::of(0);
  if (attr == "previtem")
    return index0 > 0 ? (*items)[index0 - 1] : Value::undefined("loop.previtem");
  if (attr == "nextitem")
    return index0 + 1 < n ? (*items)[index0 + 1] : Value::undefined("loop.nextitem");
  return Value::undefined("loop." + attr);
}

Value get_attr(const Value& obj, const std::string& attr) {
  switch (obj.kind) {
    case Value::Kind::kNamespace:
      return obj.ns->get(attr);
    case Value::Kind::kLoop:
      return obj.loop->get(attr);
    case Value::Kind::kData:
      if (obj.json().is_object()) {
        auto it = obj.json().find(attr);
        if (it != obj.json().end()) return obj.child(*it);
      }
      break;
    default:
      break;
  }
  return Value::undefined(obj.is_undefined() && !obj.name.empty() ? obj.name + "." + attr : attr);
}

Value get_item(const Value& obj, const Value& key) {
  if (key.is_string() && !obj.is_data()) return get_attr(obj, key.json().get<std::string>());
  if (obj.is_data() && key.is_data()) {
    const Json& j = obj.json();
    const Json& k = key.json();
    if (j.is_object() && k.is_string()) return get_attr(obj, k.get<std::string>());
    if ((j.is_array() || j.is_string()) && is_int(k)) {
      long long i = as_int(k);
      if (j.is_array()) {
        long long n = static_cast<long long>(j.size());
        if (i < 0) i += n;
        if (i >= 0 && i < n) return obj.child(j[static_cast<size_t>(i)]);
      } else {
        std::vector<std::string_view> cps = code_points(j.get_ref<const std::string&>());
        long long n = static_cast<long long>(cps.size());
        if (i < 0) i += n;
        if (i >= 0 && i < n) return Value::of(cps[static_cast<size_t>(i)]);
      }
    }
  }
  return Value::undefined(obj.name.empty() ? "item" : obj.name + "[...]");
}

// ---- Parameter binding -----------------------------------------------------------------------

Params::Params(const CallArgs& args, std::initializer_list<const char*> names,
               const std::string& what, Pos pos)
    : bound_(names.size(), nullptr) {
  if (args.positional.size() > names.size()) {
    fail(what + " takes at most " + std::to_string(names.size()) + " arguments (" +
             std::to_string(args.positional.size()) + " given)",
         pos);
  }
  for (size_t i = 0; i < args.positional.size(); ++i) bound_[i] = &args.positional[i];
  for (const auto& [name, value] : args.named) {
    auto it = std::find_if(names.begin(), names.end(),
                           [&name = name](const char* n) { return name == n; });
    if (it == names.end()) fail(what + " got an unexpected argument '" + name + "'", pos);
    size_t i = static_cast<size_t>(it - names.begin());
    if (bound_[i]) fail(what + " got multiple values for argument '" + name + "'", pos);
    bound_[i] = &value;
  }
}

}  // namespace dsx::tpl
