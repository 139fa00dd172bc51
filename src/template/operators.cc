// Python's operators on template values: arithmetic with Python's int/float rules (floor
// division and modulo round toward negative infinity, / always gives a float, int overflow is an
// error rather than a silent wrap), + on strings and lists, * repetition, comparisons, `in`, and
// slicing with negative indices and steps.
#include <algorithm>
#include <cmath>
#include <optional>

#include "template/value.h"

namespace dsx::tpl {

[[noreturn]] void fail_undefined(const Value& v, Pos pos) {
  fail("'" + (v.name.empty() ? std::string("value") : v.name) + "' is undefined", pos);
}

static bool is_num(const Json& j) {
  return j.is_number() || j.is_boolean();
}
bool is_integral(const Json& j) {
  return is_int(j) && !j.is_number_float();
}

void check_size(size_t n, Pos pos) {
  if (n > kMaxValueBytes) fail("value exceeds " + std::to_string(kMaxValueBytes) + " bytes", pos);
}

static Value python_mod_div(const std::string& op, const Json& x, const Json& y, Pos pos) {
  if (is_integral(x) && is_integral(y)) {
    long long a = as_int(x), b = as_int(y);
    if (b == 0) fail("integer division or modulo by zero", pos);
    if (a == INT64_MIN && b == -1) fail("integer overflow", pos);
    long long q = a / b, r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) {
      --q;
      r += b;
    }
    return Value::of(op == "//" ? q : r);
  }
  double a = as_double(x), b = as_double(y);
  if (b == 0) fail("float division or modulo by zero", pos);
  if (op == "//") return Value::of(std::floor(a / b));
  double r = std::fmod(a, b);
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return Value::of(r);
}

static Value arithmetic(const std::string& op, const Json& x, const Json& y, Pos pos) {
  if (op == "/") {
    if (as_double(y) == 0) fail("division by zero", pos);
    return Value::of(as_double(x) / as_double(y));
  }
  if (op == "//" || op == "%") return python_mod_div(op, x, y, pos);
  if (is_integral(x) && is_integral(y)) {
    long long a = as_int(x), b = as_int(y), r = 0;
    bool overflow = false;
    if (op == "+") overflow = __builtin_add_overflow(a, b, &r);
    if (op == "-") overflow = __builtin_sub_overflow(a, b, &r);
    if (op == "*") overflow = __builtin_mul_overflow(a, b, &r);
    if (op == "**") {
      if (b < 0) return Value::of(std::pow(static_cast<double>(a), static_cast<double>(b)));
      r = 1;
      for (long long i = 0; i < b && !overflow; ++i) {
        overflow = __builtin_mul_overflow(r, a, &r);
        if (r == 0 || r == 1) break;
        if (r == -1) {
          r = (b - i - 1) % 2 == 0 ? -1 : 1;
          break;
        }
      }
    }
    if (overflow) fail("integer overflow in '" + op + "'", pos);
    return Value::of(r);
  }
  double a = as_double(x), b = as_double(y);
  if (op == "+") return Value::of(a + b);
  if (op == "-") return Value::of(a - b);
  if (op == "*") return Value::of(a * b);
  return Value::of(std::pow(a, b));
}

static Value repeat(const Json& seq, long long times, Pos pos) {
  size_t n = times > 0 ? static_cast<size_t>(times) : 0;
  if (seq.is_string()) {
    const std::string& s = seq.get_ref<const std::string&>();
    if (n && !s.empty()) check_size(s.size() * std::min<size_t>(n, kMaxValueBytes + 1), pos);
    std::string out;
    for (size_t i = 0; i < n; ++i) out += s;
    return Value::of(std::move(out));
  }
  if (n && !seq.empty() && seq.size() * std::min<size_t>(n, kMaxItems + 1) > kMaxItems) {
    fail("list repetition too large", pos);
  }
  Json out = Json::array();
  for (size_t i = 0; i < n; ++i) {
    for (const Json& item : seq) out.push_back(item);
  }
  return Value::of(std::move(out));
}

Value binary_op(const std::string& op, const Value& a, const Value& b, Pos pos) {
  if (op == "~") {
    std::string s = to_str(a);
    std::string t = to_str(b);
    check_size(s.size() + t.size(), pos);
    return Value::of(s + t);
  }
  if (a.is_undefined()) fail_undefined(a, pos);
  if (b.is_undefined()) fail_undefined(b, pos);
  if (a.is_data() && b.is_data()) {
    const Json& x = a.json();
    const Json& y = b.json();
    if (is_num(x) && is_num(y)) return arithmetic(op, x, y, pos);
    if (op == "+" && x.is_string() && y.is_string()) {
      check_size(x.get_ref<const std::string&>().size() + y.get_ref<const std::string&>().size(),
                 pos);
      return Value::of(x.get<std::string>() + y.get_ref<const std::string&>());
    }
    if (op == "+" && x.is_array() && y.is_array()) {
      Json out = x;
      for (const Json& item : y) out.push_back(item);
      return Value::of(std::move(out));
    }
    if (op == "*" && (x.is_string() || x.is_array()) && is_integral(y))
      return repeat(x, as_int(y), pos);
    if (op == "*" && (y.is_string() || y.is_array()) && is_integral(x))
      return repeat(y, as_int(x), pos);
    if (op == "%" && x.is_string()) return Value::of(percent_format(x.get<std::string>(), b, pos));
  }
  fail(
      "unsupported operand types for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'",
      pos);
}

static bool contains(const Value& container, const Value& item, Pos pos) {
  if (container.is_undefined()) return false;
  if (container.is_data()) {
    const Json& c = container.json();
    if (c.is_string()) {
      if (!item.is_string()) fail("'in <string>' requires a string as left operand", pos);
      return c.get_ref<const std::string&>().find(item.json().get_ref<const std::string&>()) !=
             std::string::npos;
    }
    if (c.is_array()) {
      return item.is_data() &&
             std::any_of(c.begin(), c.end(), [&](const Json& x) { return equals(x, item.json()); });
    }
    if (c.is_object())
      return item.is_string() && c.contains(item.json().get_ref<const std::string&>());
  }
  fail("argument of type '" + type_name(container) + "' is not iterable", pos);
}

bool compare_op(const std::string& op, const Value& a, const Value& b, Pos pos) {
  if (op == "==") return equals(a, b);
  if (op == "!=") return !equals(a, b);
  if (op == "in") return contains(b, a, pos);
  if (op == "not in") return !contains(b, a, pos);
  if (!a.is_data() || !b.is_data()) {
    fail("'" + op + "' not supported between '" + type_name(a) + "' and '" + type_name(b) + "'",
         pos);
  }
  int c = compare(a.json(), b.json(), pos);
  if (op == "<") return c < 0;
  if (op == "<=") return c <= 0;
  if (op == ">") return c > 0;
  return c >= 0;
}

// Python slice semantics: obj[start:stop:step] with defaults and negative indices.
Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step, Pos pos) {
  if (obj.is_undefined()) return obj;
  auto as_index = [&](const Value& v, const char* what) -> std::optional<long long> {
    if (v.is_undefined() || (v.is_data() && v.json().is_null())) return std::nullopt;
    if (!v.is_data() || !is_integral(v.json()))
      fail(std::string("slice ") + what + " must be an integer", pos);
    return as_int(v.json());
  };
  long long st = as_index(step, "step").value_or(1);
  if (st == 0) fail("slice step cannot be zero", pos);
  if (!obj.is_data() || !(obj.json().is_array() || obj.json().is_string())) {
    fail("'" + type_name(obj) + "' object cannot be sliced", pos);
  }
  const Json& j = obj.json();
  std::vector<std::string_view> cps;
  if (j.is_string()) cps = code_points(j.get_ref<const std::string&>());
  long long n = static_cast<long long>(j.is_string() ? cps.size() : j.size());
  auto adjust = [&](std::optional<long long> v, long long dflt) {
    if (!v) return dflt;
    long long i = *v;
    if (i < 0) {
      i += n;
      if (i < 0) i = st < 0 ? -1 : 0;
    } else if (i >= n) {
      i = st < 0 ? n - 1 : n;
    }
    return i;
  };
  long long b = adjust(as_index(start, "start"), st < 0 ? n - 1 : 0);
  long long e = adjust(as_index(stop, "stop"), st < 0 ? -1 : n);
  std::string s;
  Json list = Json::array();
  for (long long i = b; st > 0 ? i < e : i > e;) {
    if (j.is_string()) {
      s += cps[static_cast<size_t>(i)];
    } else {
      list.push_back(j[static_cast<size_t>(i)]);
    }
    if (__builtin_add_overflow(i, st, &i)) break;  // a step like 10**18 leaves after one item
  }
  return j.is_string() ? Value::of(std::move(s)) : Value::of(std::move(list));
}

}  // namespace dsx::tpl
