// Internal to the template module: runtime values and the Python semantics they follow
// (truthiness, str(), repr(), ==, <, json.dumps).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "template/ast.h"

namespace dsx::tpl {

struct Namespace;
struct Macro;
struct Loop;

// A runtime value: JSON data, Jinja's Undefined, or one of the few objects JSON cannot hold
// (a namespace, a macro, the loop variable). JSON data is immutable and shared: looking up
// messages[i]['content'] aliases into the context instead of copying it.
struct Value {
  enum class Kind { kUndefined, kData, kNamespace, kMacro, kLoop };

  Kind kind = Kind::kUndefined;
  std::shared_ptr<const Json> data;  // kData
  std::shared_ptr<Namespace> ns;     // kNamespace (shared and mutable, as in Jinja2)
  std::shared_ptr<const Macro> macro;
  std::shared_ptr<const Loop> loop;
  std::string name;  // kUndefined: the expression that was undefined, for error messages

  static Value undefined(std::string what) {
    Value v;
    v.name = std::move(what);
    return v;
  }
  static Value of(Json j) {
    Value v;
    v.kind = Kind::kData;
    v.data = std::make_shared<const Json>(std::move(j));
    return v;
  }
  // A member of this value's JSON, sharing ownership instead of copying.
  Value child(const Json& member) const {
    Value v;
    v.kind = Kind::kData;
    v.data = std::shared_ptr<const Json>(data, &member);
    return v;
  }

  bool is_undefined() const { return kind == Kind::kUndefined; }
  bool is_data() const { return kind == Kind::kData; }
  const Json& json() const { return *data; }
  bool is_string() const { return is_data() && data->is_string(); }
  bool is_object() const { return is_data() && data->is_object(); }
  bool is_array() const { return is_data() && data->is_array(); }
  bool is_number() const { return is_data() && (data->is_number() || data->is_boolean()); }
};

struct Namespace {
  std::vector<std::pair<std::string, Value>> attrs;

  Value get(const std::string& key) const {
    for (const auto& [k, v] : attrs) {
      if (k == key) return v;
    }
    return Value::undefined(key);
  }
  void set(const std::string& key, Value v) {
    for (auto& [k, old] : attrs) {
      if (k == key) {
        old = std::move(v);
        return;
      }
    }
    attrs.emplace_back(key, std::move(v));
  }
};

struct Frame;

struct Macro {
  const MacroNode* node;
  // Where it was defined: what its body sees. Weak, because that scope holds the macro: a
  // strong pointer would make a cycle that outlives the render.
  std::weak_ptr<Frame> closure;
};

// The `loop` variable of a for loop; attributes are computed on access.
struct Loop {
  std::shared_ptr<const std::vector<Value>> items;
  size_t index0 = 0;
  Value get(const std::string& attr) const;
};

// Arguments of a filter, test, method or function call.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> named;
};

// Binds CallArgs to parameter names the way Python does; fails on unknown or surplus ones.
class Params {
 public:
  Params(const CallArgs& args, std::initializer_list<const char*> names, const std::string& what,
         Pos pos);
  const Value* get(size_t i) const { return bound_[i]; }  // null when not passed
  bool has(size_t i) const { return bound_[i] != nullptr; }

 private:
  std::vector<const Value*> bound_;
};

// ---- Python semantics (value.cc) ------------------------------------------------------------

bool truthy(const Value& v);
std::string type_name(const Value& v);    // "str", "int", "list", "dict", "undefined", ...
std::string quoted_type(const Value& v);  // "'str'"
std::string to_str(const Value& v);       // str(v); Undefined prints as ""
std::string repr(const Json& j);
std::string float_repr(double d);  // Python's repr(float): 1.0, 1e-05, 1e+20
bool equals(const Json& a, const Json& b);
bool equals(const Value& a, const Value& b);
int compare(const Json& a, const Json& b, Pos pos);  // <0, 0, >0; fails if unorderable
Json to_json(const Value& v, Pos pos);               // for storing in lists and dicts
double as_double(const Json& j);
inline bool is_int(const Json& j) {
  return j.is_number_integer() || j.is_boolean();
}
long long as_int(const Json& j);  // a float truncated toward zero, saturated at the 64-bit range
// Python's int(d): truncated toward zero; nullopt for NaN, infinities and values outside the
// 64-bit range (Python would give a big integer, which values here cannot hold).
std::optional<long long> truncate_to_int(double d);
// Python's json.dumps. No indent puts everything on one line; ensure_ascii escapes everything
// outside printable ASCII.
struct DumpOptions {
  std::optional<std::string> indent;
  bool ensure_ascii = false;
  std::string item_sep = ", ";
  std::string key_sep = ": ";
  bool sort_keys = false;
};
std::string dump_json(const Json& j, const DumpOptions& options);

// Operators (operators.cc). Python semantics; errors name the operand types.
[[noreturn]] void fail_undefined(const Value& v, Pos pos);  // "'x' is undefined"
bool is_integral(const Json& j);                            // int or bool, not float
void check_size(size_t bytes, Pos pos);                     // fails past kMaxValueBytes
Value binary_op(const std::string& op, const Value& a, const Value& b,
                Pos pos);  // + - * / // % ** ~
bool compare_op(const std::string& op, const Value& a, const Value& b,
                Pos pos);  // == != < <= > >= in, not in
Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step, Pos pos);

// Iterating: list items, dict keys, string characters; Undefined is empty.
std::vector<Value> iterate(const Value& v, Pos pos);

// UTF-8 helpers: strings are indexed, sliced and measured in code points, as in Python.
// Decodes the code point at s[i] and advances i; an invalid byte decodes as itself.
uint32_t utf8_decode(std::string_view s, size_t& i);
std::vector<std::string_view> code_points(std::string_view s);  // views into s
size_t utf8_length(std::string_view s);
bool is_py_space(uint32_t cp);
std::string py_strip(std::string_view s, const Value* chars, bool left, bool right);
std::string ascii_upper(std::string s);
std::string ascii_lower(std::string s);

// ---- Filters, tests and methods (filters.cc, tests.cc, methods.cc) ---------------------------

bool is_filter(const std::string& name);
bool is_test(const std::string& name);
Value apply_filter(const std::string& name, const Value& input, const CallArgs& args, Pos pos);
bool apply_test(const std::string& name, const Value& input, const CallArgs& args, Pos pos);
// A method call on a value, e.g. "a,b".split(","), d.items(). Fails on unknown methods.
Value call_method(const Value& self, const std::string& name, const CallArgs& args, Pos pos);
// Attribute lookup, as `obj.attr` and the attribute= parameters of filters: dict keys, namespace
// and loop attributes; anything else is undefined.
Value get_attr(const Value& obj, const std::string& attr);
Value get_item(const Value& obj, const Value& key);
// Python's `%` string formatting and str.format, with the common conversions.
std::string percent_format(const std::string& fmt, const Value& args, Pos pos);
std::string str_format(const std::string& fmt, const CallArgs& args, Pos pos);

}  // namespace dsx::tpl
