// Robustness: mangled templates and odd data must give a dsx::Error or a rendering, never a
// crash, a hang or another exception type. Deterministic (fixed seeds); run under the sanitizer
// build (DSX_SANITIZE) this also checks memory safety.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "core/core.h"
#include "template/template.h"

namespace {

using Json = nlohmann::ordered_json;

std::string read_template(const std::string& name) {
  std::ifstream in(std::string(DSX_TEST_DATA) + "/templates/" + name, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

const Json& messages() {
  static const Json m = Json::parse(R"([
    {"role": "system", "content": "sys"},
    {"role": "user", "content": "hi </think> there"},
    {"role": "assistant", "content": null, "tool_calls": [
      {"type": "function", "function": {"name": "f", "arguments": "{}"}}]},
    {"role": "tool", "content": "out"},
    {"role": "assistant", "content": 42},
    {"role": "user"},
    {"role": 7, "content": ["a", {"b": null}]}
  ])");
  return m;
}

// Renders and reports whether it failed with dsx::Error; any other exception fails the test.
bool try_render(const std::string& src, const Json& msgs) {
  try {
    dsx::render_chat_template(src, msgs, true, "<s>", "</s>");
    return true;
  } catch (const dsx::Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    return false;
  }
}

TEST(Fuzz, MutatedDeepSeekTemplates) {
  std::mt19937 rng(1234);
  const char* pieces[] = {"{{",     "}}",    "{%",   "%}",   "{#", "#}", "-",    "(",
                          ")",      "[",     "]",    "'",    "\"", "|",  " if ", " for ",
                          "endfor", "endif", " is ", "not ", "~",  "+",  "**",   ".",
                          ",",      "loop",  "ns",   "{",    "}",  "\\", "\n"};
  int ok = 0, failed = 0;
  for (const char* name : {"deepseek-v3.jinja", "deepseek-r1.jinja", "deepseek-v2-chat.jinja"}) {
    std::string base = read_template(name);
    for (int iter = 0; iter < 400; ++iter) {
      std::string s = base;
      int edits = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < edits && !s.empty(); ++k) {
        size_t at = rng() % s.size();
        switch (rng() % 3) {
          case 0:
            s.erase(at, 1 + rng() % 8);
            break;
          case 1:
            s.insert(at, pieces[rng() % std::size(pieces)]);
            break;
          default:
            s[at] = static_cast<char>(rng() % 256);
            break;
        }
      }
      (try_render(s, messages()) ? ok : failed)++;
    }
  }
  EXPECT_GT(ok, 0);
  EXPECT_GT(failed, 0);
}

TEST(Fuzz, RandomTokenSoup) {
  std::mt19937 rng(99);
  const char* tokens[] = {"{{ ",
                          " }}",
                          "{% if ",
                          "{% for x in ",
                          "{% set ",
                          "{% endif %}",
                          "{% endfor %}",
                          "{% else %}",
                          "{% macro m(a) %}",
                          "{% endmacro %}",
                          " %}",
                          "x",
                          "messages",
                          "loop.index",
                          "ns.a",
                          "namespace(a=1)",
                          "[1, 2]",
                          "{'k': 'v'}",
                          "'str'",
                          "1",
                          "2.5",
                          "none",
                          " + ",
                          " ~ ",
                          " * ",
                          " // ",
                          " % ",
                          " and ",
                          " or ",
                          " not ",
                          " in ",
                          " is defined",
                          " is none",
                          " | length",
                          " | tojson",
                          " | join(',')",
                          " | map(attribute='role')",
                          "(",
                          ")",
                          "[",
                          "]",
                          ".split()",
                          "[::-1]",
                          "[1:]",
                          " if true else ",
                          "m(1)",
                          "range(3)",
                          "raise_exception('e')",
                          "text\n",
                          "  ",
                          "{#",
                          "#}",
                          "-",
                          "=",
                          ","};
  int ok = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s;
    int n = 1 + static_cast<int>(rng() % 24);
    for (int k = 0; k < n; ++k) s += tokens[rng() % std::size(tokens)];
    ok += try_render(s, messages());
  }
  EXPECT_GT(ok, 100);  // enough of the soup parses to exercise the evaluator
}

}  // namespace
