// Filters: Jinja2's built-ins that chat templates use, plus transformers' tojson (json.dumps
// with ensure_ascii=False and no HTML escaping, unlike Jinja2's own). A filter not listed here
// is rejected at parse time. String filters convert their input with str() first, as Jinja2's
// do, so `{{ 1 | upper }}` is "1" and an undefined input is "".
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include "template/value.h"

namespace dsx::tpl {
namespace {

using FilterFn = std::function<Value(const Value&, const CallArgs&, Pos)>;

bool arg_bool(const Params& p, size_t i, bool dflt) {
  return p.has(i) ? truthy(*p.get(i)) : dflt;
}

std::string arg_str(const Params& p, size_t i, const std::string& dflt) {
  return p.has(i) ? to_str(*p.get(i)) : dflt;
}

long long arg_int(const Params& p, size_t i, long long dflt, const std::string& what, Pos pos) {
  if (!p.has(i) || (p.get(i)->is_data() && p.get(i)->json().is_null())) return dflt;
  if (!p.get(i)->is_data() || !is_int(p.get(i)->json())) fail(what + " expects an integer", pos);
  return as_int(p.get(i)->json());
}

// "a.b.0" looks up a, then b, then index 0, as Jinja2's attribute= parameters do.
Value attr_path(const Value& item, const std::string& path) {
  Value v = item;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool digits =
        !part.empty() && part.size() < 18 &&
        std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    v = digits ? get_item(v, Value::of(std::stoll(part))) : get_item(v, Value::of(part));
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

// The key filters sort and compare by: an attribute if asked, lower-cased unless case sensitive.
Json sort_key(const Value& item, const Params& p, size_t case_idx, size_t attr_idx, Pos pos) {
  Value v = p.has(attr_idx) ? attr_path(item, to_str(*p.get(attr_idx))) : item;
  Json j = to_json(v, pos);
  if (j.is_string() && !arg_bool(p, case_idx, false)) j = ascii_lower(j.get<std::string>());
  return j;
}

std::vector<Value> items_of(const Value& v, Pos pos) {
  return iterate(v, pos);
}

Json to_list(const std::vector<Value>& items, Pos pos) {
  Json out = Json::array();
  for (const Value& v : items) out.push_back(to_json(v, pos));
  return out;
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to,
                        long long count) {
  std::string out;
  if (from.empty()) {  // Python inserts `to` around every character
    std::vector<std::string_view> cps = code_points(s);
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || static_cast<long long>(i) < count) out += to;
      if (i < cps.size()) out += cps[i];
    }
    return out;
  }
  size_t pos = 0;
  for (long long n = 0; count < 0 || n < count; ++n) {
    size_t hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out += to;
    pos = hit + from.size();
  }
  out.append(s, pos, std::string::npos);
  return out;
}

Value f_default(const Value& in, const CallArgs& a, Pos pos) {
  Params p(a, {"default_value", "boolean"}, "filter 'default'", pos);
  bool use_default = in.is_undefined() || (arg_bool(p, 1, false) && !truthy(in));
  if (!use_default) return in;
  return p.has(0) ? *p.get(0) : Value::of("");
}

Value f_length(const Value& in, const CallArgs& a, Pos pos) {
  Params p(a, {}, "filter 'length'", pos);
  if (in.is_undefined()) return Value::of(0);
  if (in.is_string()) return Value::of(utf8_length(in.json().get_ref<const std::string&>()));
  if (in.is_array() || in.is_object()) return Value::of(in.json().size());
  if (in.kind == Value::Kind::kNamespace) return Value::of(in.ns->attrs.size());
  fail("object of type '" + type_name(in) + "' has no len()", pos);
}

Value f_first_last(const Value& in, const CallArgs& a, Pos pos, bool first) {
  Params p(a, {}, first ? "filter 'first'" : "filter 'last'", pos);
  std::vector<Value> items = items_of(in, pos);
  if (items.empty()) return Value::undefined(first ? "first item" : "last item");
  return first ? items.front() : items.back();
}

Value f_join(const Value& in, const CallArgs& a, Pos pos) {
  Params p(a, {"d", "attribute"}, "filter 'join'", pos);
  std::string sep = arg_str(p, 0, "");
  std::string out;
  bool first = true;
  for (const Value& item : items_of(in, pos)) {
    if (!first) out += sep;
    first = false;
    out += to_str(p.has(1) ? attr_path(item, to_str(*p.get(1))) : item);
  }
  return Value::of(std::move(out));
}

Value f_tojson(const Value& in, const CallArgs& a, Pos pos) {
  // transformers' signature: tojson(x, ensure_ascii=False, indent=None, separators=None,
  // sort_keys=False)
  Params p(a, {"ensure_ascii", "indent", "separators", "sort_keys"}, "filter 'tojson'", pos);
  if (!in.is_data()) fail("Object of type " + type_name(in) + " is not JSON serializable", pos);
  DumpOptions o;
  o.ensure_ascii = arg_bool(p, 0, false);
  if (p.has(1) && !(p.get(1)->is_data() && p.get(1)->json().is_null())) {
    const Value& ind = *p.get(1);
    if (ind.is_string()) {
      o.indent = ind.json().get<std::string>();
    } else if (ind.is_data() && is_int(ind.json())) {
      o.indent = std::string(static_cast<size_t>(std::max(0LL, as_int(ind.json()))), ' ');
    } else {
      fail("tojson indent must be an integer or a string", pos);
    }
    o.item_sep = ",";
  }
  if (p.has(2) && !(p.get(2)->is_data() && p.get(2)->json().is_null())) {
    const Value& sep = *p.get(2);
    if (!sep.is_array() || sep.json().size() != 2 || !sep.json()[0].is_string() ||
        !sep.json()[1].is_string()) {
      fail("tojson separators must be a pair of strings", pos);
    }
    o.item_sep = sep.json()[0].get<std::string>();
    o.key_sep = sep.json()[1].get<std::string>();
  }
  o.sort_keys = arg_bool(p, 3, false);
  return Value::of(dump_json(in.json(), o));
}

// A finite float through the int filter: Python gives a big integer past the 64-bit range, which
// values here cannot hold, so that is an overflow error like every other.
long long int_of_float(double d, Pos pos) {
  if (auto v = truncate_to_int(d)) return *v;
  fail("integer overflow in int(): " + float_repr(d) + " is outside the 64-bit range", pos);
}

Value f_int(const Value& in, const CallArgs& a, Pos pos) {
  Params p(a, {"default", "base"}, "filter 'int'", pos);
  Value dflt = p.has(0) ? *p.get(0) : Value::of(0);
  if (in.is_number()) {
    const Json& j = in.json();
    if (!j.is_number_float()) return Value::of(as_int(j));
    const double d = j.get<double>();
    if (std::isfinite(d)) return Value::of(int_of_float(d, pos));
    return dflt;
  }
  if (!in.is_string()) return dflt;
  std::string s = py_strip(in.json().get_ref<const std::string&>(), nullptr, true, true);
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  if (s.empty()) return dflt;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, static_cast<int>(arg_int(p, 1, 10, "int base", pos)));
  if (*end == '\0' && errno == 0) return Value::of(v);
  double d = std::strtod(s.c_str(), &end);
  if (*end == '\0' && std::isfinite(d)) return Value::of(int_of_float(d, pos));
  return dflt;
}

Value f_float(const Value& in, const CallArgs& a, Pos pos) {
  Params p(a, {"default"}, "filter 'float'", pos);
  Value dflt = p.has(0) ? *p.get(0) : Value::of(0.0);
  if (in.is_number()) return Value::of(as_double(in.json()));
  if (!in.is_string()) return dflt;
  std::string s = py_strip(in.json().get_ref<const std::string&>(), nullptr, true, true);
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  return !s.empty() && *end == '\0' ? Value::of(d) : dflt;
}

Value f_round(const Value& in, const CallArgs& a, Pos pos) {
  Params p(a, {"precision", "method"}, "filter 'round'", pos);
  if (!in.is_number()) fail("filter 'round' expects a number, not " + type_name(in), pos);
  long long prec = arg_int(p, 0, 0, "round precision", pos);
  std::string method = arg_str(p, 1, "common");
  double x = as_double(in.json());
  double scale = std::pow(10.0, static_cast<double>(prec));
  if (method == "ceil") return Value::of(std::ceil(x * scale) / scale);
  if (method == "floor") return Value::of(std::floor(x * scale) / scale);
  if (method != "common") fail("round method must be 'common', 'ceil' or 'floor'", pos);
  if (prec < 0) return Value::of(std::nearbyint(x * scale) / scale);
  // Python rounds the exact binary value half to even; printf does the same.
  char buf[512];
  std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::min(prec, 300LL)), x);
  return Value::of(std::strtod(buf, nullptr));
}

Value f_abs(const Value& in, const CallArgs& a, Pos pos) {
  Params p(a, {}, "filter 'abs'", pos);
  if (!in.is_number()) fail("bad operand type for abs(): '" + type_name(in) + "'", pos);
  const Json& j = in.json();
  if (j.is_number_float()) return Value::of(std::fabs(j.get<double>()));
  long long v = as_int(j);
  if (v == INT64_MIN) fail("integer overflow in abs()", pos);
  return Value::of(v < 0 ? -v : v);
}

Value f_items(const Value& in, const CallArgs& a, Pos pos) {
  Params p(a, {}, "filter 'items'", pos);
  if (in.is_undefined()) return Value::of(Json::array());
  if (!in.is_object()) fail("filter 'items' expects a dict, not " + type_name(in), pos);
  Json out = Json::array();
  for (auto it = in.json().begin(); it != in.json().end(); ++it)
    out.push_back(Json::array({it.key(), it.value()}));
  return Value::of(std::move(out));
}

Value f_dictsort(const Value& in, const CallArgs& a, Pos pos) {
  Params p(a, {"case_sensitive", "by", "reverse"}, "filter 'dictsort'", pos);
  Value pairs = f_items(in, {}, pos);
  std::string by = arg_str(p, 1, "key");
  if (by != "key" && by != "value") fail("dictsort 'by' must be 'key' or 'value'", pos);
  bool cs = arg_bool(p, 0, false);
  std::vector<Json> rows(pairs.json().begin(), pairs.json().end());
  auto key = [&](const Json& row) {
    Json k = row[by == "key" ? 0 : 1];
    return k.is_string() && !cs ? Json(ascii_lower(k.get<std::string>())) : k;
  };
  std::stable_sort(rows.begin(), rows.end(),
                   [&](const Json& x, const Json& y) { return compare(key(x), key(y), pos) < 0; });
  if (arg_bool(p, 2, false)) std::reverse(rows.begin(), rows.end());
  return Value::of(Json(rows));
}

Value f_sort(const Value& in, const CallArgs& a, Pos pos) {
  Params p(a, {"reverse", "case_sensitive", "attribute"}, "filter 'sort'", pos);
  std::vector<Value> items = items_of(in, pos);
  std::vector<std::pair<Json, Json>> keyed;
  for (const Value& v : items) keyed.emplace_back(sort_key(v, p, 1, 2, pos), to_json(v, pos));
  bool rev = arg_bool(p, 0, false);
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    int c = compare(x.first, y.first, pos);
    return rev ? c > 0 : c < 0;
  });
  Json out = Json::array();
  for (auto& kv : keyed) out.push_back(std::move(kv.second));
  return Value::of(std::move(out));
}

Value f_unique(const Value& in, const CallArgs& a, Pos pos) {
  Params p(a, {"case_sensitive", "attribute"}, "filter 'unique'", pos);
  // Keys are hashed as text; numbers go through float so that 1, 1.0 and True collide, as they
  // do in Python.
  std::unordered_set<std::string> seen;
  Json out = Json::array();
  for (const Value& v : items_of(in, pos)) {
    Json key = sort_key(v, p, 0, 1, pos);
    bool number = key.is_number() || key.is_boolean();
    std::string text(1, number ? 'n' : 'j');
    text += number ? float_repr(as_double(key))
                   : key.dump(-1, ' ', false, Json::error_handler_t::replace);
    if (seen.insert(std::move(text)).second) out.push_back(to_json(v, pos));
  }
  return Value::of(std::move(out));
}

Value f_min_max(const Value& in, const CallArgs& a, Pos pos, bool is_max) {
  Params p(a, {"case_sensitive", "attribute"}, is_max ? "filter 'max'" : "filter 'min'", pos);
  std::vector<Value> items = items_of(in, pos);
  if (items.empty())
    return Value::undefined(is_max ? "max of an empty sequence" : "min of an empty sequence");
  size_t best = 0;
  Json best_key = sort_key(items[0], p, 0, 1, pos);
  for (size_t i = 1; i < items.size(); ++i) {
    Json k = sort_key(items[i], p, 0, 1, pos);
    int c = compare(k, best_key, pos);
    if (is_max ? c > 0 : c < 0) best = i, best_key = std::move(k);
  }
  return items[best];
}

Value f_sum(const Value& in, const CallArgs& a, Pos pos) {
  Params p(a, {"attribute", "start"}, "filter 'sum'", pos);
  Json total = p.has(1) ? to_json(*p.get(1), pos) : Json(0);
  for (const Value& item : items_of(in, pos)) {
    Value v = p.has(0) ? attr_path(item, to_str(*p.get(0))) : item;
    if (!v.is_number() || !(total.is_number() || total.is_boolean()))
      fail("filter 'sum' expects numbers", pos);
    long long r = 0;
    if (is_int(total) && !v.json().is_number_float() &&
        !__builtin_add_overflow(as_int(total), as_int(v.json()), &r)) {
      total = r;
    } else {
      total = as_double(total) + as_double(v.json());
    }
  }
  return Value::of(std::move(total));
}

Value f_reverse(const Value& in, const CallArgs& a, Pos pos) {
  Params p(a, {}, "filter 'reverse'", pos);
  std::vector<Value> items = items_of(in, pos);
  std::reverse(items.begin(), items.end());
  if (in.is_string()) {
    std::string out;
    for (const Value& v : items) out += v.json().get_ref<const std::string&>();
    return Value::of(std::move(out));
  }
  return Value::of(to_list(items, pos));
}

// select/reject/selectattr/rejectattr: keep the items whose test (or truthiness) is `keep`.
Value select_items(const Value& in, const CallArgs& a, Pos pos, bool by_attr, bool keep) {
  size_t first_test_arg = by_attr ? 1 : 0;
  if (by_attr && a.positional.empty()) fail("selectattr/rejectattr need an attribute name", pos);
  CallArgs test_args;
  std::string test;
  if (a.positional.size() > first_test_arg) {
    test = to_str(a.positional[first_test_arg]);
    test_args.positional.assign(a.positional.begin() + static_cast<long>(first_test_arg) + 1,
                                a.positional.end());
    test_args.named = a.named;
  }
  Json out = Json::array();
  for (const Value& item : items_of(in, pos)) {
    Value v = by_attr ? attr_path(item, to_str(a.positional[0])) : item;
    bool pass = test.empty() ? truthy(v) : apply_test(test, v, test_args, pos);
    if (pass == keep) out.push_back(to_json(item, pos));
  }
  return Value::of(std::move(out));
}

Value f_map(const Value& in, const CallArgs& a, Pos pos) {
  Json out = Json::array();
  auto named = [&](const char* n) -> const Value* {
    for (const auto& [k, v] : a.named) {
      if (k == n) return &v;
    }
    return nullptr;
  };
  if (const Value* attr = named("attribute")) {
    const Value* dflt = named("default");
    for (const Value& item : items_of(in, pos)) {
      Value v = attr_path(item, to_str(*attr));
      out.push_back(to_json(v.is_undefined() && dflt ? *dflt : v, pos));
    }
    return Value::of(std::move(out));
  }
  if (a.positional.empty() || !a.positional[0].is_string())
    fail("filter 'map' needs a filter name or attribute=", pos);
  std::string filter = a.positional[0].json().get<std::string>();
  if (!is_filter(filter)) fail("unknown filter '" + filter + "'", pos);
  CallArgs rest{{a.positional.begin() + 1, a.positional.end()}, a.named};
  for (const Value& item : items_of(in, pos))
    out.push_back(to_json(apply_filter(filter, item, rest, pos), pos));
  return Value::of(std::move(out));
}

Value f_indent(const Value& in, const CallArgs& a, Pos pos) {
  Params p(a, {"width", "first", "blank"}, "filter 'indent'", pos);
  std::string pad =
      p.has(0) && p.get(0)->is_string()
          ? p.get(0)->json().get<std::string>()
          : std::string(static_cast<size_t>(std::max(0LL, arg_int(p, 0, 4, "indent width", pos))),
                        ' ');
  std::string s = to_str(in) + "\n";  // as Jinja2 does, so a trailing newline yields an empty line
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n' || s[i] == '\r') {
      lines.push_back(s.substr(start, i - start));
      if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out += "\n";
    bool indent = (i > 0 || arg_bool(p, 1, false)) && (arg_bool(p, 2, false) || !lines[i].empty());
    out += (indent ? pad : "") + lines[i];
  }
  return Value::of(std::move(out));
}

Value f_title(const Value& in, const CallArgs& a, Pos pos) {
  Params p(a, {}, "filter 'title'", pos);
  // Jinja2 capitalizes after runs of whitespace, '-', and opening brackets.
  std::string s = to_str(in);
  bool start = true;
  for (char& c : s) {
    bool sep = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
               c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
    if (start) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    } else if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    start = sep;
  }
  return Value::of(std::move(s));
}

Value f_escape(const Value& in, const CallArgs& a, Pos pos) {
  Params p(a, {}, "filter 'escape'", pos);
  std::string out;
  for (char c : to_str(in)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return Value::of(std::move(out));
}

Value f_center(const Value& in, const CallArgs& a, Pos pos) {
  Params p(a, {"width"}, "filter 'center'", pos);
  std::string s = to_str(in);
  long long width = arg_int(p, 0, 80, "center width", pos);
  long long n = static_cast<long long>(utf8_length(s));
  if (width <= n) return Value::of(s);
  long long total = std::min<long long>(width - n, static_cast<long long>(kMaxValueBytes));
  long long left = total / 2 + (total & width & 1);  // Python's str.center split
  return Value::of(std::string(static_cast<size_t>(left), ' ') + s +
                   std::string(static_cast<size_t>(total - left), ' '));
}

Value string_filter(const Value& in, const CallArgs& a, Pos pos, const char* name,
                    const std::function<std::string(std::string)>& fn) {
  Params p(a, {}, std::string("filter '") + name + "'", pos);
  return Value::of(fn(to_str(in)));
}

const std::unordered_map<std::string, FilterFn>& filters() {
  static const std::unordered_map<std::string, FilterFn> table = [] {
    std::unordered_map<std::string, FilterFn> t;
    t["default"] = t["d"] = f_default;
    t["length"] = t["count"] = f_length;
    t["first"] = [](const Value& in, const CallArgs& a, Pos pos) {
      return f_first_last(in, a, pos, true);
    };
    t["last"] = [](const Value& in, const CallArgs& a, Pos pos) {
      return f_first_last(in, a, pos, false);
    };
    t["join"] = f_join;
    t["tojson"] = f_tojson;
    t["int"] = f_int;
    t["float"] = f_float;
    t["round"] = f_round;
    t["abs"] = f_abs;
    t["items"] = f_items;
    t["dictsort"] = f_dictsort;
    t["sort"] = f_sort;
    t["unique"] = f_unique;
    t["min"] = [](const Value& in, const CallArgs& a, Pos pos) {
      return f_min_max(in, a, pos, false);
    };
    t["max"] = [](const Value& in, const CallArgs& a, Pos pos) {
      return f_min_max(in, a, pos, true);
    };
    t["sum"] = f_sum;
    t["reverse"] = f_reverse;
    t["map"] = f_map;
    t["select"] = [](const Value& in, const CallArgs& a, Pos pos) {
      return select_items(in, a, pos, false, true);
    };
    t["reject"] = [](const Value& in, const CallArgs& a, Pos pos) {
      return select_items(in, a, pos, false, false);
    };
    t["selectattr"] = [](const Value& in, const CallArgs& a, Pos pos) {
      return select_items(in, a, pos, true, true);
    };
    t["rejectattr"] = [](const Value& in, const CallArgs& a, Pos pos) {
      return select_items(in, a, pos, true, false);
    };
    t["indent"] = f_indent;
    t["title"] = f_title;
    t["escape"] = t["e"] = f_escape;
    t["center"] = f_center;
    t["list"] = [](const Value& in, const CallArgs& a, Pos pos) {
      Params p(a, {}, "filter 'list'", pos);
      return Value::of(to_list(items_of(in, pos), pos));
    };
    t["string"] = [](const Value& in, const CallArgs& a, Pos pos) {
      return string_filter(in, a, pos, "string", [](std::string s) { return s; });
    };
    t["safe"] = [](const Value& in, const CallArgs& a, Pos pos) {
      Params p(a, {}, "filter 'safe'", pos);
      return in.is_undefined() ? Value::of("") : in;
    };
    t["upper"] = [](const Value& in, const CallArgs& a, Pos pos) {
      return string_filter(in, a, pos, "upper", ascii_upper);
    };
    t["lower"] = [](const Value& in, const CallArgs& a, Pos pos) {
      return string_filter(in, a, pos, "lower", ascii_lower);
    };
    t["capitalize"] = [](const Value& in, const CallArgs& a, Pos pos) {
      return string_filter(in, a, pos, "capitalize", [](std::string s) {
        s = ascii_lower(std::move(s));
        if (!s.empty() && s[0] >= 'a' && s[0] <= 'z') s[0] = static_cast<char>(s[0] - 'a' + 'A');
        return s;
      });
    };
    t["wordcount"] = [](const Value& in, const CallArgs& a, Pos pos) {
      Params p(a, {}, "filter 'wordcount'", pos);
      long long n = 0;
      bool in_word = false;
      for (char c : to_str(in)) {
        bool w = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 c == '_' || (c & 0x80);
        if (w && !in_word) ++n;
        in_word = w;
      }
      return Value::of(n);
    };
    t["trim"] = [](const Value& in, const CallArgs& a, Pos pos) {
      Params p(a, {"chars"}, "filter 'trim'", pos);
      return Value::of(py_strip(to_str(in), p.get(0), true, true));
    };
    t["replace"] = [](const Value& in, const CallArgs& a, Pos pos) {
      Params p(a, {"old", "new", "count"}, "filter 'replace'", pos);
      if (!p.has(0) || !p.has(1)) fail("filter 'replace' needs old and new strings", pos);
      return Value::of(replace_all(to_str(in), to_str(*p.get(0)), to_str(*p.get(1)),
                                   arg_int(p, 2, -1, "replace count", pos)));
    };
    t["format"] = [](const Value& in, const CallArgs& a, Pos pos) {
      if (!a.named.empty() && !a.positional.empty())
        fail("filter 'format' takes positional or keyword arguments, not both", pos);
      Json args = Json::array();
      for (const Value& v : a.positional) args.push_back(to_json(v, pos));
      if (!a.named.empty()) {
        args = Json::object();
        for (const auto& [k, v] : a.named) args[k] = to_json(v, pos);
      }
      return Value::of(percent_format(to_str(in), Value::of(std::move(args)), pos));
    };
    t["attr"] = [](const Value& in, const CallArgs& a, Pos pos) {
      Params p(a, {"name"}, "filter 'attr'", pos);
      // getattr(), not item lookup: a dict's keys are not its attributes.
      return in.is_data() ? Value::undefined(arg_str(p, 0, "")) : get_attr(in, arg_str(p, 0, ""));
    };
    return t;
  }();
  return table;
}

}  // namespace

bool is_filter(const std::string& name) {
  return filters().count(name) != 0;
}

Value apply_filter(const std::string& name, const Value& input, const CallArgs& args, Pos pos) {
  auto it = filters().find(name);
  if (it == filters().end()) fail("unknown filter '" + name + "'", pos);
  return it->second(input, args, pos);
}

}  // namespace dsx::tpl
