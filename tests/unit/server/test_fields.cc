// Typed field access: absent and null are "not given", wrong types are 400s naming the field.
#include <gtest/gtest.h>

#include "server/api.h"

namespace dsx::server {
namespace {

int status_of(const std::function<void()>& fn, std::string* param = nullptr) {
  try {
    fn();
  } catch (const ApiError& e) {
    if (param) *param = e.param;
    return e.status;
  }
  return 0;
}

TEST(ServerFields, ParseBodyRejectsBadJsonAndNonObjects) {
  EXPECT_EQ(status_of([] { parse_body("{bad"); }), 400);
  EXPECT_EQ(status_of([] { parse_body(""); }), 400);
  EXPECT_EQ(status_of([] { parse_body("[1,2]"); }), 400);
  EXPECT_EQ(status_of([] { parse_body("\"s\""); }), 400);
  EXPECT_EQ(status_of([] { parse_body("{\"a\": \"\xff\"}"); }), 400);  // invalid UTF-8
  EXPECT_TRUE(parse_body("{\"a\": 1}").is_object());
}

TEST(ServerFields, ParseBodyRefusesDeepNesting) {
  // Deep enough to overflow a thread's stack if anything recursed over it later.
  const std::string deep = "{\"a\":" + std::string(1000000, '[') + std::string(1000000, ']') + "}";
  EXPECT_EQ(status_of([&] { parse_body(deep); }), 400);
  const std::string ok = "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}";
  EXPECT_TRUE(parse_body(ok).is_object());
}

TEST(ServerFields, NullAndAbsentAreNotGiven) {
  const json j = json::parse(R"({"a": null})");
  EXPECT_FALSE(get_int(j, "a"));
  EXPECT_FALSE(get_int(j, "b"));
  EXPECT_FALSE(get_bool(j, "a"));
  EXPECT_FALSE(get_string(j, "a"));
  EXPECT_FALSE(get_number(j, "a"));
  EXPECT_TRUE(get_stop(j, "a", 4).empty());
}

TEST(ServerFields, IntegersAcceptIntegralFloatsOnly) {
  const json j = json::parse(R"({"i": 7, "f": 8.0, "h": 8.5, "s": "9", "b": true, "big": 1e300})");
  EXPECT_EQ(*get_int(j, "i"), 7);
  EXPECT_EQ(*get_int(j, "f"), 8);
  std::string param;
  EXPECT_EQ(status_of([&] { get_int(j, "h"); }, &param), 400);
  EXPECT_EQ(param, "h");
  EXPECT_EQ(status_of([&] { get_int(j, "s"); }), 400);
  EXPECT_EQ(status_of([&] { get_int(j, "b"); }), 400);
  EXPECT_EQ(status_of([&] { get_int(j, "big"); }), 400);
}

TEST(ServerFields, WrongTypesNameTheNestedField) {
  const json j = json::parse(R"({"options": {"temperature": "hot"}})");
  std::string param;
  EXPECT_EQ(status_of([&] { get_number(j["options"], "temperature", "options"); }, &param), 400);
  EXPECT_EQ(param, "options.temperature");
  EXPECT_EQ(status_of([&] { get_bool(json::parse(R"({"x": 1})"), "x"); }), 400);
  EXPECT_EQ(status_of([&] { get_string(json::parse(R"({"x": 1})"), "x"); }), 400);
}

TEST(ServerFields, StopIsStringOrArrayOfNonEmptyStrings) {
  EXPECT_EQ(get_stop(json::parse(R"({"stop": "x"})"), "stop", 4), std::vector<std::string>{"x"});
  EXPECT_EQ(get_stop(json::parse(R"({"stop": ["a", "b"]})"), "stop", 4),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(status_of([] { get_stop(json::parse(R"({"stop": [1]})"), "stop", 4); }), 400);
  EXPECT_EQ(status_of([] { get_stop(json::parse(R"({"stop": 3})"), "stop", 4); }), 400);
  EXPECT_EQ(status_of([] { get_stop(json::parse(R"({"stop": [""]})"), "stop", 4); }), 400);
  EXPECT_EQ(status_of([] { get_stop(json::parse(R"({"stop": ["a","b","c"]})"), "stop", 2); }), 400);
}

TEST(ServerFields, ModelNamesMatchWithOrWithoutLatestTag) {
  EXPECT_TRUE(model_matches("demo-coder", "demo-coder"));
  EXPECT_TRUE(model_matches("demo-coder:latest", "demo-coder"));
  EXPECT_FALSE(model_matches("demo-coder:7b", "demo-coder"));
  EXPECT_FALSE(model_matches("other", "demo-coder"));
}

TEST(ServerErrors, OpenAIShapeHasAllFourFields) {
  const ordered_json e = openai_error_body(401, "bad key", "", "invalid_api_key");
  EXPECT_EQ(e["error"]["message"], "bad key");
  EXPECT_EQ(e["error"]["type"], "authentication_error");
  EXPECT_TRUE(e["error"]["param"].is_null());
  EXPECT_EQ(e["error"]["code"], "invalid_api_key");
  EXPECT_EQ(openai_error_body(400, "x")["error"]["type"], "invalid_request_error");
  EXPECT_EQ(openai_error_body(503, "x")["error"]["type"], "overloaded_error");
  EXPECT_EQ(ollama_error_body("nope").dump(), R"({"error":"nope"})");
}

TEST(ServerErrors, DumpReplacesInvalidUtf8InsteadOfThrowing) {
  json j = {{"token", std::string("\xe4\xbd")}};  // half a character, as a byte token can be
  EXPECT_EQ(dump(j), "{\"token\":\"\xef\xbf\xbd\"}");
}

}  // namespace
}  // namespace dsx::server
