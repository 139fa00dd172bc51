// Errors and limits: every failure is a one-line dsx::Error that says what and where, and no
// input (deep nesting, runaway loops, huge strings) crashes or exhausts memory.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "core/core.h"
#include "template/template.h"

namespace {

using Json = nlohmann::ordered_json;
using dsx::Template;

std::string parse_error(const std::string& src) {
  try {
    Template::parse(src);
  } catch (const dsx::Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  }
  ADD_FAILURE() << "no parse error for: " << src.substr(0, 80);
  return "";
}

std::string render_error(const std::string& src, const Json& ctx = Json::object()) {
  Template t = Template::parse(src);
  try {
    std::string out = t.render(ctx);
    ADD_FAILURE() << "rendered " << out.size()
                  << " bytes instead of failing: " << src.substr(0, 80);
  } catch (const dsx::Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    return msg;
  }
  return "";
}

// ---- Unsupported constructs name themselves and their position -------------------------------

TEST(Unsupported, StatementsNameThemselves) {
  EXPECT_EQ(parse_error("a\n  {% call foo() %}x{% endcall %}"),
            "template: unsupported construct 'call' at line 2 col 6");
  EXPECT_EQ(parse_error("{% extends 'base.html' %}"),
            "template: unsupported construct 'extends' at line 1 col 4");
  EXPECT_EQ(parse_error("{% include 'x' %}"),
            "template: unsupported construct 'include' at line 1 col 4");
  EXPECT_EQ(parse_error("{% import 'x' as y %}"),
            "template: unsupported construct 'import' at line 1 col 4");
  EXPECT_EQ(parse_error("{% block b %}{% endblock %}"),
            "template: unsupported construct 'block' at line 1 col 4");
  EXPECT_EQ(parse_error("{% for x in y recursive %}{% endfor %}"),
            "template: unsupported construct 'recursive' loop at line 1 col 15");
  EXPECT_EQ(parse_error("{% frobnicate %}"), "template: unknown tag 'frobnicate' at line 1 col 4");
}

TEST(Unsupported, FiltersAndTestsAreCheckedAtParseTime) {
  EXPECT_EQ(parse_error("{{ x | wordwrap(5) }}"),
            "template: unknown filter 'wordwrap' at line 1 col 8");
  EXPECT_EQ(parse_error("{{ x is prime }}"), "template: unknown test 'prime' at line 1 col 9");
  EXPECT_EQ(parse_error("{{ f(*args) }}"),
            "template: unsupported construct '*args' in a call at line 1 col 6");
}

TEST(Unsupported, MethodsFailAtRuntime) {
  EXPECT_EQ(render_error("{{ 'x'.zfill(3) }}"),
            "template: unsupported method str.zfill() at line 1 col 13");
  EXPECT_EQ(
      render_error("{{ [1].append(2) }}"),
      "template: list.append() is not allowed: templates cannot modify values at line 1 col 14");
}

// ---- Syntax errors ---------------------------------------------------------------------------

TEST(Syntax, UnterminatedBlocksPointAtTheirOpening) {
  EXPECT_EQ(parse_error("x\n{% if a %}abc"),
            "template: unterminated 'if' block, expected 'endif' at line 2 col 1");
  EXPECT_EQ(parse_error("{% for a in b %}{% if c %}{% endfor %}"),
            "template: unexpected 'endfor' at line 1 col 30");
  EXPECT_EQ(parse_error("{% for a in b %}"),
            "template: unterminated 'for' block, expected 'endfor' at line 1 col 1");
  EXPECT_EQ(parse_error("{% macro m() %}"),
            "template: unterminated 'macro' block, expected 'endmacro' at line 1 col 1");
  EXPECT_EQ(parse_error("{% raw %}abc"),
            "template: unterminated 'raw' block, expected 'endraw' at line 1 col 1");
}

TEST(Syntax, UnterminatedTagsStringsAndComments) {
  EXPECT_EQ(parse_error("ab {{ x"),
            "template: unterminated tag '{{', expected '}}' at line 1 col 4");
  EXPECT_EQ(parse_error("{% if x "),
            "template: unterminated tag '{%', expected '%}' at line 1 col 1");
  EXPECT_EQ(parse_error("{{ 'abc }}"), "template: unterminated string literal at line 1 col 4");
  EXPECT_EQ(parse_error("{# note"), "template: unterminated comment '{#' at line 1 col 1");
  EXPECT_EQ(parse_error("{{ {'a': 1 }}"),
            "template: unterminated tag '{{', expected '}}' at line 1 col 1");
}

TEST(Syntax, MisplacedAndMalformed) {
  EXPECT_EQ(parse_error("{% endif %}"), "template: unexpected 'endif' at line 1 col 4");
  EXPECT_EQ(parse_error("{% if a %}{% else %}{% elif b %}{% endif %}"),
            "template: 'elif' after 'else' at line 1 col 24");
  EXPECT_EQ(parse_error("{% break %}"), "template: 'break' outside a loop at line 1 col 4");
  EXPECT_EQ(parse_error("{{ 1 + }}"),
            "template: unexpected '}}', expected an expression at line 1 col 8");
  EXPECT_EQ(parse_error("{{ a b }}"), "template: unexpected 'b', expected '}}' at line 1 col 6");
  EXPECT_EQ(parse_error("{{ a ? b }}"), "template: unexpected character '?' at line 1 col 6");
  EXPECT_EQ(parse_error("{% set %}"), "template: unexpected '%}', expected a name at line 1 col 8");
  EXPECT_EQ(parse_error("{{ 99999999999999999999 }}"),
            "template: integer literal out of range at line 1 col 4");
}

TEST(Syntax, ColumnsCountCharactersNotBytes) {
  EXPECT_EQ(parse_error("<｜User｜>{{ x | nope }}"),
            "template: unknown filter 'nope' at line 1 col 16");
}

// ---- Runtime errors --------------------------------------------------------------------------

TEST(Runtime, TypeErrorsNameTypesAndPosition) {
  EXPECT_EQ(render_error("\n\n  {{ 'a' + 1 }}"),
            "template: unsupported operand types for +: 'str' and 'int' at line 3 col 10");
  EXPECT_EQ(render_error("{{ nothing + 'a' }}"),
            "template: 'nothing' is undefined at line 1 col 12");
  EXPECT_EQ(render_error("{{ msg.content + 'a' }}", {{"msg", Json::object()}}),
            "template: 'content' is undefined at line 1 col 16");
  EXPECT_EQ(render_error("{{ nothing() }}"), "template: 'nothing' is undefined at line 1 col 11");
  EXPECT_EQ(render_error("{{ 1 / 0 }}"), "template: division by zero at line 1 col 6");
  EXPECT_EQ(render_error("{{ 5 | length }}"),
            "template: object of type 'int' has no len() at line 1 col 6");
  EXPECT_EQ(render_error("{{ nothing | tojson }}"),
            "template: Object of type undefined is not JSON serializable at line 1 col 12");
  EXPECT_EQ(render_error("{{ [1, 'a'] | sort }}"),
            "template: cannot order str and int at line 1 col 13");
  EXPECT_EQ(render_error("{% for a, b in [[1, 2, 3]] %}{% endfor %}"),
            "template: cannot unpack a list into 2 names at line 1 col 1");
  EXPECT_EQ(
      render_error("{% set x = 1 %}{% set x.y = 2 %}"),
      "template: cannot assign attribute 'y' on 'x', which is not a namespace at line 1 col 16");
  EXPECT_EQ(render_error("{{ 'x' | join(1, 2, 3) }}"),
            "template: filter 'join' takes at most 2 arguments (3 given) at line 1 col 8");
  EXPECT_EQ(render_error("{{ range(1, 2, 0) }}"),
            "template: range() step must not be zero at line 1 col 9");
}

TEST(Runtime, MessagesStayOnOneLine) {
  EXPECT_EQ(render_error("{{ d['multi\\nline'] + 1 }}", {{"d", Json::object()}}),
            "template: 'multi\\nline' is undefined at line 1 col 21");
}

TEST(Runtime, HugeSliceStepsAreSafe) {
  EXPECT_EQ(Template::parse("{{ [1, 2, 3][::10**18] }} {{ 'abc'[::-(10**18)] }}").render({}),
            "[1] c");
}

TEST(Runtime, RaiseExceptionKeepsTheMessageOnOneLine) {
  EXPECT_EQ(render_error("{{ raise_exception('bad\\nrole') }}"), "bad role");
}

TEST(Runtime, CyclesDoNotLeakOrRecurse) {
  // A namespace holding itself, and a macro held by the scope it closes over, are freed after
  // the render (the sanitizer build checks for leaks).
  EXPECT_EQ(
      Template::parse("{% set ns = namespace(a=1) %}{% set ns.me = ns %}{{ ns.me.me.a }} {{ ns }}")
          .render({}),
      "1 <Namespace {'a': 1, 'me': <Namespace>}>");
  EXPECT_EQ(Template::parse("{% macro m() %}x{% endmacro %}{{ m() }}").render({}), "x");
  EXPECT_EQ(
      render_error("{% set ns = namespace() %}{% for i in [1] %}{% macro m() %}x{% endmacro %}"
                   "{% set ns.m = m %}{% endfor %}{{ ns.m() }}"),
      "template: macro 'm' called after the scope that defined it ended at line 1 col 112");
}

TEST(Runtime, RenderContextMustBeAnObject) {
  EXPECT_THROW(Template::parse("x").render(Json::array()), dsx::Error);
  EXPECT_EQ(Template::parse("x{{ y }}").render(nullptr), "x");
}

// ---- Limits: deep nesting and runaway work fail cleanly ---------------------------------------

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(Limits, DeepNestingIsAParseErrorNotAStackOverflow) {
  int n = 20000;
  EXPECT_NE(
      parse_error("{{ " + repeat("(", n) + "1" + repeat(")", n) + " }}").find("nested too deeply"),
      std::string::npos);
  EXPECT_NE(parse_error("{{ " + repeat("[", n) + repeat("]", n) + " }}").find("nested too deeply"),
            std::string::npos);
  EXPECT_NE(parse_error("{{ " + repeat("not ", n) + "x }}").find("nested too deeply"),
            std::string::npos);
  EXPECT_NE(parse_error("{{ " + repeat("-", n) + "1 }}").find("nested too deeply"),
            std::string::npos);
  EXPECT_NE(parse_error("{{ " + repeat("1 if x else ", n) + "1 }}").find("nested too deeply"),
            std::string::npos);
  EXPECT_NE(parse_error("{{ x" + repeat(" ~ x", n) + " }}").find("nested too deeply"),
            std::string::npos);
  EXPECT_NE(parse_error("{{ x" + repeat(" | trim", n) + " }}").find("nested too deeply"),
            std::string::npos);
  EXPECT_NE(
      parse_error(repeat("{% if x %}", n) + repeat("{% endif %}", n)).find("nested too deeply"),
      std::string::npos);
  EXPECT_NE(parse_error(repeat("{% for x in y %}", n)).find("nested too deeply"),
            std::string::npos);
}

TEST(Limits, ModerateNestingWorks) {
  EXPECT_EQ(Template::parse(repeat("{% if true %}", 100) + "deep" + repeat("{% endif %}", 100))
                .render({}),
            "deep");
  EXPECT_EQ(Template::parse("{{ " + repeat("(", 50) + "1" + repeat(")", 50) + " }}").render({}),
            "1");
}

TEST(Limits, RunawayRecursionFails) {
  EXPECT_NE(render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
                .find("nested too deeply"),
            std::string::npos);
}

TEST(Limits, RunawayLoopsFail) {
  EXPECT_NE(render_error("{% for i in range(10**9) %}{% endfor %}").find("range()"),
            std::string::npos);
  dsx::TemplateOptions small;
  small.max_steps = 100000;
  Template t = Template::parse(
      "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}{% endfor %}"
      "{% endfor %}{% endfor %}",
      small);
  try {
    t.render({});
    ADD_FAILURE() << "no error";
  } catch (const dsx::Error& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds 100000 steps"), std::string::npos) << e.what();
  }
}

TEST(Limits, HugeValuesFail) {
  EXPECT_NE(render_error("{{ 'x' * 10**12 }}").find("exceeds"), std::string::npos);
  EXPECT_NE(render_error("{{ [1] * 10**12 }}").find("too large"), std::string::npos);
  EXPECT_NE(render_error("{% set ns = namespace(s='xx') %}{% for i in range(64) %}"
                         "{% set ns.s = ns.s + ns.s %}{% endfor %}")
                .find("exceeds"),
            std::string::npos);
  EXPECT_NE(render_error("{{ 2 ** 100 }}").find("overflow"), std::string::npos);
  // Floats past the 64-bit range through int (found by fuzzing: the conversion was undefined).
  EXPECT_EQ(
      render_error("{{ 1e300 | int }}"),
      "template: integer overflow in int(): 1e+300 is outside the 64-bit range at line 1 col 10");
  EXPECT_NE(render_error("{{ '-9.3e18' | int }}").find("overflow"), std::string::npos);
  EXPECT_NE(render_error("{{ ('1' * 100) | int(base=35) }}").find("overflow"), std::string::npos);
  // The edges of the range still convert; NaN and infinities give the default, as in Jinja2.
  EXPECT_EQ(Template::parse("{{ -9223372036854775808.0 | int }} {{ '9.2e18' | int }} "
                            "{{ 'inf' | int(7) }} {{ 'nan' | int }}")
                .render({}),
            "-9223372036854775808 9200000000000000000 7 0");
}

TEST(Limits, OutputSizeIsBounded) {
  dsx::TemplateOptions small;
  small.max_output_bytes = 100000;
  Template t = Template::parse("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", small);
  try {
    t.render({});
    ADD_FAILURE() << "no error";
  } catch (const dsx::Error& e) {
    EXPECT_NE(std::string(e.what()).find("output exceeds 100000 bytes"), std::string::npos)
        << e.what();
  }
  // The bound covers output captured by set blocks and macros too.
  t = Template::parse(
      "{% set x %}{% for i in range(1000) %}{{ 'y' * 1000 }}{% endfor %}{% endset %}", small);
  EXPECT_THROW(t.render({}), dsx::Error);
}

}  // namespace
