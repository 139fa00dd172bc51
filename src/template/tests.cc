// Tests (`x is defined`, `x is divisibleby 3`, ...): Jinja2's built-ins, with Python's type
// rules: a bool is a number but not an integer, Undefined is iterable (and empty).
#include <cmath>
#include <functional>
#include <unordered_map>

#include "template/value.h"

namespace dsx::tpl {
namespace {

using TestFn = std::function<bool(const Value&, const CallArgs&, Pos)>;

const Value& one_arg(const CallArgs& a, const char* test, Pos pos) {
  if (a.positional.size() + a.named.size() != 1)
    fail(std::string("test '") + test + "' takes one argument", pos);
  return a.positional.empty() ? a.named[0].second : a.positional[0];
}

void no_args(const CallArgs& a, const char* test, Pos pos) {
  if (!a.positional.empty() || !a.named.empty())
    fail(std::string("test '") + test + "' takes no arguments", pos);
}

TestFn type_test(const char* name, bool (*pred)(const Value&)) {
  return [name, pred](const Value& v, const CallArgs& a, Pos pos) {
    no_args(a, name, pos);
    return pred(v);
  };
}

TestFn compare_test(const char* name, const char* op) {
  std::string o = op;
  return [name, o](const Value& v, const CallArgs& a, Pos pos) {
    const Value& other = one_arg(a, name, pos);
    if (o == "==") return equals(v, other);
    if (o == "!=") return !equals(v, other);
    if (!v.is_data() || !other.is_data())
      fail(std::string("test '") + name + "' cannot order " + type_name(v), pos);
    int c = compare(v.json(), other.json(), pos);
    return o == "<" ? c < 0 : o == "<=" ? c <= 0 : o == ">" ? c > 0 : c >= 0;
  };
}

bool integral(const Value& v) {
  return v.is_data() && v.json().is_number_integer();
}

long long int_arg(const Value& v, const char* test, Pos pos) {
  if (!integral(v)) fail(std::string("test '") + test + "' expects an integer", pos);
  return as_int(v.json());
}

bool string_case(const Value& v, bool upper) {
  if (!v.is_string()) return false;
  const std::string& s = v.json().get_ref<const std::string&>();
  bool cased = false;
  for (char c : s) {
    if ((upper && c >= 'a' && c <= 'z') || (!upper && c >= 'A' && c <= 'Z')) return false;
    cased = cased || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }
  return cased;
}

const std::unordered_map<std::string, TestFn>& tests() {
  static const std::unordered_map<std::string, TestFn> table = [] {
    std::unordered_map<std::string, TestFn> t;
    t["defined"] = type_test("defined", [](const Value& v) { return !v.is_undefined(); });
    t["undefined"] = type_test("undefined", [](const Value& v) { return v.is_undefined(); });
    t["none"] = type_test("none", [](const Value& v) { return v.is_data() && v.json().is_null(); });
    t["boolean"] =
        type_test("boolean", [](const Value& v) { return v.is_data() && v.json().is_boolean(); });
    t["true"] = type_test("true", [](const Value& v) { return v.is_data() && v.json() == true; });
    t["false"] =
        type_test("false", [](const Value& v) { return v.is_data() && v.json() == false; });
    t["integer"] = type_test("integer", integral);
    t["float"] = type_test(
        "float", [](const Value& v) { return v.is_data() && v.json().is_number_float(); });
    t["number"] = type_test("number", [](const Value& v) { return v.is_number(); });
    t["string"] = type_test("string", [](const Value& v) { return v.is_string(); });
    t["mapping"] = type_test("mapping", [](const Value& v) { return v.is_object(); });
    t["iterable"] = type_test("iterable", [](const Value& v) {
      return v.is_undefined() || v.is_string() || v.is_array() || v.is_object();
    });
    t["sequence"] = type_test("sequence", [](const Value& v) {
      return v.is_undefined() || v.is_string() || v.is_array() || v.is_object();
    });
    t["callable"] =
        type_test("callable", [](const Value& v) { return v.kind == Value::Kind::kMacro; });
    t["escaped"] = type_test("escaped", [](const Value&) { return false; });
    t["lower"] = type_test("lower", [](const Value& v) { return string_case(v, false); });
    t["upper"] = type_test("upper", [](const Value& v) { return string_case(v, true); });
    t["odd"] = [](const Value& v, const CallArgs& a, Pos pos) {
      no_args(a, "odd", pos);
      return int_arg(v, "odd", pos) % 2 != 0;
    };
    t["even"] = [](const Value& v, const CallArgs& a, Pos pos) {
      no_args(a, "even", pos);
      return int_arg(v, "even", pos) % 2 == 0;
    };
    t["divisibleby"] = [](const Value& v, const CallArgs& a, Pos pos) {
      long long d = int_arg(one_arg(a, "divisibleby", pos), "divisibleby", pos);
      if (d == 0) fail("test 'divisibleby' by zero", pos);
      return int_arg(v, "divisibleby", pos) % d == 0;
    };
    t["sameas"] = [](const Value& v, const CallArgs& a, Pos pos) {
      // Python identity: equal singletons (None, True, False) or the very same object.
      const Value& o = one_arg(a, "sameas", pos);
      if (v.is_data() && o.is_data()) {
        const Json& x = v.json();
        const Json& y = o.json();
        if (x.is_null() || x.is_boolean() || y.is_null() || y.is_boolean()) return x == y;
        return v.data == o.data;
      }
      return equals(v, o);
    };
    t["in"] = [](const Value& v, const CallArgs& a, Pos pos) {
      const Value& c = one_arg(a, "in", pos);
      if (c.is_string()) {
        return v.is_string() && c.json().get_ref<const std::string&>().find(
                                    v.json().get_ref<const std::string&>()) != std::string::npos;
      }
      if (c.is_object())
        return v.is_string() && c.json().contains(v.json().get_ref<const std::string&>());
      if (c.is_array()) {
        for (const Json& x : c.json()) {
          if (v.is_data() && equals(x, v.json())) return true;
        }
        return false;
      }
      fail("test 'in' needs a container", pos);
    };
    t["eq"] = t["equalto"] = t["=="] = compare_test("eq", "==");
    t["ne"] = t["!="] = compare_test("ne", "!=");
    t["lt"] = t["lessthan"] = t["<"] = compare_test("lt", "<");
    t["le"] = t["<="] = compare_test("le", "<=");
    t["gt"] = t["greaterthan"] = t[">"] = compare_test("gt", ">");
    t["ge"] = t[">="] = compare_test("ge", ">=");
    t["filter"] = [](const Value& v, const CallArgs& a, Pos pos) {
      no_args(a, "filter", pos);
      return v.is_string() && is_filter(v.json().get<std::string>());
    };
    t["test"] = [](const Value& v, const CallArgs& a, Pos pos) {
      no_args(a, "test", pos);
      return v.is_string() && is_test(v.json().get<std::string>());
    };
    return t;
  }();
  return table;
}

}  // namespace

bool is_test(const std::string& name) {
  return tests().count(name) != 0;
}

bool apply_test(const std::string& name, const Value& input, const CallArgs& args, Pos pos) {
  auto it = tests().find(name);
  if (it == tests().end()) fail("unknown test '" + name + "'", pos);
  return it->second(input, args, pos);
}

}  // namespace dsx::tpl
