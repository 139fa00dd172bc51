// Typed, null-tolerant access to request fields, with 400s that name the field.
#include <cmath>

#include "server/api.h"

namespace dsx::server {
namespace {

std::string path(const std::string& where, const char* name) {
  return where.empty() ? std::string(name) : where + "." + name;
}

const json* find(const json& obj, const char* name) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

[[noreturn]] void wrong_type(const std::string& field, const char* want, const json& got) {
  throw ApiError(400, "'" + field + "' must be " + want + ", got " + got.type_name(), field,
                 "invalid_type");
}

}  // namespace

json parse_body(const std::string& body) {
  // Parsing is iterative, but dumping, copying and converting JSON recurse: a body of a million
  // '[' would overflow a connection thread's stack later. No API object nests this deep.
  constexpr int kMaxDepth = 128;
  bool too_deep = false;
  const json::parser_callback_t limit = [&](int depth, json::parse_event_t, json&) {
    if (depth > kMaxDepth) too_deep = true;
    return !too_deep;  // discard everything once too deep, so nothing deep is built
  };
  json j = json::parse(body, limit, /*allow_exceptions=*/false);
  if (too_deep)
    throw ApiError(400, "request body nests deeper than " + std::to_string(kMaxDepth) + " levels",
                   {}, "invalid_json");
  if (j.is_discarded()) {
    // Parse again with exceptions for the position in the message.
    try {
      const json again = json::parse(body);
      (void)again;
    } catch (const json::parse_error& e) {
      throw ApiError(400, std::string("request body is not valid JSON: ") + e.what(), {},
                     "invalid_json");
    }
    throw ApiError(400, "request body is not valid JSON", {}, "invalid_json");
  }
  if (!j.is_object()) throw ApiError(400, "request body must be a JSON object", {}, "invalid_json");
  return j;
}

std::optional<bool> get_bool(const json& obj, const char* name, const std::string& where) {
  const json* v = find(obj, name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) wrong_type(path(where, name), "a boolean", *v);
  return v->get<bool>();
}

std::optional<int64_t> get_int(const json& obj, const char* name, const std::string& where) {
  const json* v = find(obj, name);
  if (!v) return std::nullopt;
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      return INT64_MAX;  // huge but an integer: range checks downstream reject it
    return v->get<int64_t>();
  }
  // 10.0 is how some clients (and JavaScript) write an integer; 10.5 is not one.
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18)
      return static_cast<int64_t>(d);
  }
  wrong_type(path(where, name), "an integer", *v);
}

std::optional<double> get_number(const json& obj, const char* name, const std::string& where) {
  const json* v = find(obj, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) wrong_type(path(where, name), "a number", *v);
  return v->get<double>();
}

std::optional<std::string> get_string(const json& obj, const char* name, const std::string& where) {
  const json* v = find(obj, name);
  if (!v) return std::nullopt;
  if (!v->is_string()) wrong_type(path(where, name), "a string", *v);
  return v->get<std::string>();
}

std::vector<std::string> get_stop(const json& obj, const char* name, int max_count,
                                  const std::string& where) {
  const json* v = find(obj, name);
  if (!v) return {};
  const std::string field = path(where, name);
  std::vector<std::string> stops;
  if (v->is_string()) {
    stops.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    for (const json& s : *v) {
      if (!s.is_string()) wrong_type(field + "[]", "a string", s);
      stops.push_back(s.get<std::string>());
    }
  } else {
    wrong_type(field, "a string or an array of strings", *v);
  }
  if (static_cast<int>(stops.size()) > max_count)
    throw ApiError(400,
                   "'" + field + "' has " + std::to_string(stops.size()) + " entries, at most " +
                       std::to_string(max_count) + " are allowed",
                   field);
  for (const std::string& s : stops)
    if (s.empty()) throw ApiError(400, "'" + field + "' entries must not be empty", field);
  return stops;
}

bool model_matches(const std::string& name, const std::string& served) {
  return name == served || name == served + ":latest";
}

}  // namespace dsx::server
