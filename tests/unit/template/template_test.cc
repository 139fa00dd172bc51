// One test per construct, filter and test of the template language, with expected strings
// written out. jinja_oracle_test.cc checks the same ground against Jinja2 itself; these tests
// say what each piece does and are where a regression shows first.
#include "template/template.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "core/core.h"

namespace {

using Json = nlohmann::ordered_json;
using dsx::Template;
using dsx::TemplateOptions;

std::string render(std::string_view src, const Json& ctx = Json::object(),
                   TemplateOptions opt = {}) {
  return Template::parse(src, opt).render(ctx);
}
std::string hf(std::string_view src, const Json& ctx = Json::object()) {
  return render(src, ctx, TemplateOptions::hf_chat());
}

const Json kCtx = {{"n", 7},
                   {"f", 2.5},
                   {"s", "  Hi There  "},
                   {"l", {3, 1, 2}},
                   {"d", {{"b", 1}, {"a", 2}}},
                   {"nil", nullptr},
                   {"t", true},
                   {"people", Json::array({{{"name", "ann"}, {"age", 31}, {"admin", true}},
                                           {{"name", "bob"}, {"age", 25}, {"admin", false}}})}};

// ---- Text and output -------------------------------------------------------------------------

TEST(Output, TextAndExpressions) {
  EXPECT_EQ(render("plain"), "plain");
  EXPECT_EQ(render("{{ n }}+{{ f }}", kCtx), "7+2.5");
  EXPECT_EQ(render("", kCtx), "");
}

TEST(Output, PrintsValuesAsPython) {
  EXPECT_EQ(render("{{ nil }} {{ t }} {{ false }} {{ l }} {{ d }}", kCtx),
            "None True False [3, 1, 2] {'b': 1, 'a': 2}");
  EXPECT_EQ(render("{{ ['a', \"it's\"] }}"), "['a', \"it's\"]");
  EXPECT_EQ(render("{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e-5 }} {{ 10 / 4 }}"),
            "1.0 0.30000000000000004 1e+20 1e-05 2.5");
}

TEST(Output, UndefinedIsEmptyAndFalsy) {
  EXPECT_EQ(render("[{{ missing }}]"), "[]");
  EXPECT_EQ(render("{% if missing %}yes{% else %}no{% endif %}"), "no");
  EXPECT_EQ(render("[{{ missing.attr }}][{{ missing['k'].x }}]"),
            "[][]");  // attribute of undefined is undefined
  EXPECT_EQ(render("{{ missing.attr is defined }}"), "False");
}

TEST(Output, KeepsKeyOrderOfOrderedJson) {
  Json ctx = {{"obj", {{"zeta", 1}, {"alpha", 2}}}};
  EXPECT_EQ(render("{{ obj | tojson }}", ctx), "{\"zeta\": 1, \"alpha\": 2}");
  nlohmann::json sorted = {{"obj", {{"zeta", 1}, {"alpha", 2}}}};  // a plain json converts, sorted
  EXPECT_EQ(Template::parse("{{ obj | tojson }}").render(sorted), "{\"alpha\": 2, \"zeta\": 1}");
}

// ---- Whitespace control ----------------------------------------------------------------------

TEST(Whitespace, DashStripsAllWhitespace) {
  EXPECT_EQ(render("a  \n {{- n -}} \n  b", kCtx), "a7b");
  EXPECT_EQ(render("a \n {%- if t -%} \n x \n {%- endif -%} \n b", kCtx), "axb");
  EXPECT_EQ(render("a \n {#- note -#} \n b"), "ab");
}

TEST(Whitespace, TrimBlocksDropsOneNewlineAfterBlocks) {
  std::string src = "{% if t %}\nyes\n{% endif %}\nend";
  EXPECT_EQ(hf(src, kCtx), "yes\nend");
  EXPECT_EQ(render(src, kCtx), "\nyes\n\nend");
  EXPECT_EQ(hf("{{ n }}\n{{ n }}", kCtx), "7\n7");  // not after {{ }}
  EXPECT_EQ(hf("{# c #}\nA"), "A");                 // after comments too
}

TEST(Whitespace, LstripBlocksDropsIndentBeforeBlocks) {
  std::string src = "a\n    {% if t %}\n    x\n    {% endif %}\nb";
  EXPECT_EQ(hf(src, kCtx), "a\n    x\nb");
  EXPECT_EQ(render(src, kCtx), "a\n    \n    x\n    \nb");
  EXPECT_EQ(hf("a\n    {{ n }}\nb", kCtx), "a\n    7\nb");               // not before {{ }}
  EXPECT_EQ(hf("a  {% if t %}x{% endif %}  b", kCtx), "a  x  b");        // only at a line start
  EXPECT_EQ(hf("a\n  {%+ if t %}x{% endif +%}\nb", kCtx), "a\n  x\nb");  // + turns both off
}

TEST(Whitespace, TrailingNewlineAndLineEndings) {
  EXPECT_EQ(render("x\n"), "x");
  EXPECT_EQ(render("x\n", {}, {false, false, true}), "x\n");
  EXPECT_EQ(hf("a\r\n{% if t %}\r\nb\r\n{% endif %}\r\n", kCtx), "a\nb\n");
}

TEST(Whitespace, RawBlock) {
  EXPECT_EQ(render("{% raw %}{{ x }} {% if %}{% endraw %}"), "{{ x }} {% if %}");
  EXPECT_EQ(render("{%- raw -%}  a  {%- endraw %}"), "a");
}

// ---- Statements ------------------------------------------------------------------------------

TEST(Set, AssignsAndUnpacks) {
  EXPECT_EQ(render("{% set x = n * 2 %}{{ x }}", kCtx), "14");
  EXPECT_EQ(render("{% set a, b = [1, 2] %}{{ b }}{{ a }}"), "21");
  EXPECT_EQ(render("{% set x %}<{{ n }}>{% endset %}{{ x }}{{ x }}", kCtx), "<7><7>");
}

TEST(Set, NamespaceCarriesStateOutOfLoops) {
  EXPECT_EQ(render("{% set ns = namespace(total=0, seen=false) %}{% for x in l %}{% set ns.total = "
                   "ns.total + x %}"
                   "{% set ns.seen = true %}{% endfor %}{{ ns.total }} {{ ns.seen }}",
                   kCtx),
            "6 True");
  // Without a namespace, an assignment inside a loop is local to its iteration.
  EXPECT_EQ(
      render("{% set y = 1 %}{% for x in [1, 2] %}{% set y = y + 1 %}{{ y }}{% endfor %}{{ y }}"),
      "221");
  EXPECT_EQ(render("{% if true %}{% set z = 3 %}{% endif %}{{ z }}"), "3");  // if shares its scope
  EXPECT_EQ(render("{% set ns = namespace(a=1) %}{{ ns }}"), "<Namespace {'a': 1}>");
}

TEST(If, ElifElse) {
  std::string src =
      "{% for i in [1, 2, 3] %}{% if i == 1 %}one{% elif i == 2 %}two{% else %}many{% endif %},{% "
      "endfor %}";
  EXPECT_EQ(render(src), "one,two,many,");
  EXPECT_EQ(render("{% if not add_generation_prompt is defined %}u{% endif %}"), "u");
}

TEST(For, LoopVariables) {
  EXPECT_EQ(render("{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last "
                   "}}{{ loop.length }} {% endfor %}",
                   kCtx),
            "10TrueFalse3 21FalseFalse3 32FalseTrue3 ");
  EXPECT_EQ(render("{% for x in l %}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.cycle('a', 'b') "
                   "}}{% endfor %}",
                   kCtx),
            "32a21b10a");
  EXPECT_EQ(render("{% for x in l %}{{ loop.previtem }}-{{ loop.nextitem }}|{% endfor %}", kCtx),
            "-1|3-2|1-|");
}

TEST(For, FilterElseAndBreakContinue) {
  EXPECT_EQ(
      render("{% for x in l if x > 1 %}{{ x }}{{ loop.index }}/{{ loop.length }} {% endfor %}",
             kCtx),
      "31/2 22/2 ");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for x in missing %}x{% else %}none{% endfor %}"), "none");
  EXPECT_EQ(render("{% for i in range(9) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 4 "
                   "%}{% break %}{% endif %}{{ i }}{% endfor %}"),
            "023");
}

TEST(For, IteratesDictsStringsAndPairs) {
  EXPECT_EQ(render("{% for k in d %}{{ k }}{% endfor %}", kCtx), "ba");
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", kCtx), "b=1;a=2;");
  EXPECT_EQ(render("{% for c in 'hé!' %}[{{ c }}]{% endfor %}"), "[h][é][!]");
  EXPECT_EQ(render("{% for a in [1, 2] %}{% for b in [3, 4] %}{{ loop.index }}{% endfor %}{{ "
                   "loop.index }};{% endfor %}"),
            "121;122;");
}

TEST(Macro, CallsWithDefaultsAndKeywords) {
  std::string src = "{% macro tag(name, body='-') %}<{{ name }}>{{ body }}{% endmacro %}";
  EXPECT_EQ(render(src + "{{ tag('a') }}{{ tag('b', 'x') }}{{ tag(body='y', name='c') }}"),
            "<a>-<b>x<c>y");
  EXPECT_EQ(render("{% macro f(k) %}{% if k <= 1 %}1{% else %}{{ k * (f(k - 1) | int) }}{% endif "
                   "%}{% endmacro %}{{ f(5) }}"),
            "120");
  EXPECT_EQ(render("{% set g = 'G' %}{% macro m() %}{{ g }}{% set g = 'L' %}{{ g }}{% endmacro "
                   "%}{{ m() }}{{ g }}"),
            "GLG");
}

TEST(With, ScopesItsAssignments) {
  EXPECT_EQ(render("{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]"), "3[]");
  EXPECT_EQ(render("{% generation %}kept{% endgeneration %}"), "kept");  // transformers' tag
}

TEST(FilterBlock, FiltersItsBody) {
  EXPECT_EQ(
      render("{% filter upper | replace('O', '0') %}hello {{ n }} world{% endfilter %}", kCtx),
      "HELL0 7 W0RLD");
}

// ---- Expressions -----------------------------------------------------------------------------

TEST(Expr, Arithmetic) {
  EXPECT_EQ(render("{{ 1 + 2 * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 "
                   "}} {{ 2 ** -1 }} {{ (1 + 2) * 3 }}"),
            "7 3.5 3 -4 2 1024 0.5 9");
  EXPECT_EQ(render("{{ -n }} {{ +n }} {{ f * 2 }} {{ t + 1 }}", kCtx), "-7 7 5.0 2");
}

TEST(Expr, StringConcatenation) {
  EXPECT_EQ(render("{{ 'a' + 'b' }} {{ 'a' ~ 1 ~ nil ~ t }} {{ 'ab' * 2 }} {{ [1] + [2] }}", kCtx),
            "ab a1NoneTrue abab [1, 2]");
}

TEST(Expr, ComparisonsAndLogic) {
  EXPECT_EQ(render("{{ 1 < 2 }} {{ 'b' >= 'a' }} {{ 1 == 1.0 }} {{ '1' == 1 }} {{ 1 < 2 < 3 }} {{ "
                   "1 != 2 }}"),
            "True True True False True True");
  EXPECT_EQ(
      render("{{ t and 'yes' }} {{ nil or 'fallback' }} {{ not t }} {{ not nil and t }}", kCtx),
      "yes fallback False True");
  EXPECT_EQ(
      render("{{ 1 in l }} {{ 'i T' in s }} {{ 'a' in d }} {{ 5 not in l }} {{ 'x' in missing }}",
             kCtx),
      "True True True True False");
}

TEST(Expr, Conditional) {
  EXPECT_EQ(render("{{ 'a' if t else 'b' }}{{ 'a' if nil else 'b' }}[{{ 'a' if nil }}]", kCtx),
            "ab[]");
}

TEST(Expr, AttributeItemAndSlice) {
  EXPECT_EQ(
      render("{{ people[0].name }} {{ people[1]['age'] }} {{ people[-1].name }} {{ l.0 }}", kCtx),
      "ann 25 bob 3");
  EXPECT_EQ(render("{{ l[1:] }} {{ l[:-1] }} {{ l[::-1] }} {{ l[::2] }} {{ l[5:] }}", kCtx),
            "[1, 2] [3, 1] [2, 1, 3] [3, 2] []");
  EXPECT_EQ(render("{{ 'héllo'[1:3] }} {{ 'héllo'[::-1] }} {{ 'abc'[-1] }}"), "él olléh c");
  EXPECT_EQ(render("[{{ d.zz }}][{{ l[10] }}]", kCtx), "[][]");
}

TEST(Expr, Literals) {
  EXPECT_EQ(
      render("{{ [1, 'two', [3], {'k': none}] }} {{ {'a': 1, 'b': [true]} }} {{ (1, 2) | list }}"),
      "[1, 'two', [3], {'k': None}] {'a': 1, 'b': [True]} [1, 2]");
  EXPECT_EQ(render("{{ 'tab\\t' }}|{{ \"q\\\"\" }}|{{ '\\u00e9\\x41' }}|{{ 'a' 'b' }}"),
            "tab\t|q\"|éA|ab");
}

TEST(Methods, Strings) {
  EXPECT_EQ(
      render("{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxhixx'.strip('x') }}", kCtx),
      "Hi There|Hi There  |  Hi There|hi");
  EXPECT_EQ(render("{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} "
                   "{{ 'a b c'.rsplit(' ', 1) }}"),
            "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b c'] ['a b', 'c']");
  EXPECT_EQ(render("{{ 'a,b,c,d'.rsplit(',', 2) }}"), "['a,b', 'c', 'd']");
  EXPECT_EQ(render("{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'c')) }} {{ "
                   "'aaa'.replace('a', 'b', 2) }}"),
            "True True bba");
  EXPECT_EQ(render("{{ 'Hi'.upper() }} {{ 'Hi'.lower() }} {{ 'hello world'.title() }} {{ "
                   "'hELLO'.capitalize() }}"),
            "HI hi Hello World Hello");
  EXPECT_EQ(render("{{ '{} is {:>3}'.format('x', 7) }} {{ '{name}!'.format(name='hi') }} {{ "
                   "'%s=%05.1f' % ('pi', 3.14159) }}"),
            "x is   7 hi! pi=003.1");
  EXPECT_EQ(
      render("{{ ', '.join(['a', 'b']) }} {{ 'héllo'.find('l') }} {{ 'banana'.count('an') }}"),
      "a, b 2 2");
}

TEST(Methods, Dicts) {
  EXPECT_EQ(render("{{ d.keys() | list }} {{ d.values() | list }} {{ d.get('a') }} {{ d.get('zz', "
                   "'dflt') }} {{ d.get('zz') }}",
                   kCtx),
            "['b', 'a'] [1, 2] 2 dflt None");
}

// ---- Filters ---------------------------------------------------------------------------------

TEST(Filters, TrimLengthCount) {
  EXPECT_EQ(render("[{{ s | trim }}] {{ s | length }} {{ 'héllo' | length }} {{ l | count }} {{ d "
                   "| length }} {{ missing | length }}",
                   kCtx),
            "[Hi There] 12 5 3 2 0");
  EXPECT_EQ(render("{{ 'xax' | trim('x') }}"), "a");
}

TEST(Filters, FirstLastJoin) {
  EXPECT_EQ(render("{{ l | first }} {{ l | last }} {{ 'abc' | first }} [{{ [] | first }}]", kCtx),
            "3 2 a []");
  EXPECT_EQ(render("{{ l | join(', ') }} {{ l | join }} {{ people | join('/', attribute='name') }}",
                   kCtx),
            "3, 1, 2 312 ann/bob");
}

TEST(Filters, Default) {
  EXPECT_EQ(render("{{ missing | default('d') }} {{ nil | default('d') }} {{ '' | default('d', "
                   "true) }} {{ n | d(0) }}",
                   kCtx),
            "d None d 7");
}

TEST(Filters, CaseAndReplace) {
  EXPECT_EQ(render("{{ 'Hi' | upper }} {{ 'Hi' | lower }} {{ 'a-b c' | title }} {{ 'hI' | "
                   "capitalize }} {{ 1 | upper }}"),
            "HI hi A-B C Hi 1");
  EXPECT_EQ(render("{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 1) }}"),
            "bbb baa");
}

TEST(Filters, Conversions) {
  EXPECT_EQ(render("{{ 3 | string }} {{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | "
                   "int(5) }} {{ 3.9 | int }} {{ '2.5' | float }}"),
            "3 42 4 0 5 3 2.5");
  EXPECT_EQ(render("{{ 'ab' | list }} {{ d | list }} {{ d | items | list | length }}", kCtx),
            "['a', 'b'] ['b', 'a'] 2");
}

TEST(Filters, ToJsonLikeTransformers) {
  Json ctx = {{"v", {{"name", "é<>&"}, {"x", {1, 2.0, nullptr, true}}, {"e", Json::object()}}}};
  // ensure_ascii=False and no HTML escaping, as transformers' tojson; ', ' and ': ' separators.
  EXPECT_EQ(render("{{ v | tojson }}", ctx),
            "{\"name\": \"é<>&\", \"x\": [1, 2.0, null, true], \"e\": {}}");
  EXPECT_EQ(render("{{ v.x | tojson(indent=2) }}", ctx), "[\n  1,\n  2.0,\n  null,\n  true\n]");
  EXPECT_EQ(render("{{ v.name | tojson(ensure_ascii=true) }}", ctx), "\"\\u00e9<>&\"");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true, separators=(',', ':')) }}"),
            "{\"a\":2,\"b\":1}");
  EXPECT_EQ(render("{{ 'line\\n\"q\"' | tojson }}"), "\"line\\n\\\"q\\\"\"");
}

TEST(Filters, SafeAndEscape) {
  EXPECT_EQ(render("{{ '<b>' | safe }} {{ '<a href=\"x\">&\\'' | escape }} {{ '<' | e }}"),
            "<b> &lt;a href=&#34;x&#34;&gt;&amp;&#39; &lt;");
}

TEST(Filters, SelectRejectMap) {
  EXPECT_EQ(render("{{ people | selectattr('admin') | map(attribute='name') | list }}", kCtx),
            "['ann']");
  EXPECT_EQ(render("{{ people | rejectattr('admin') | map(attribute='name') | join }}", kCtx),
            "bob");
  EXPECT_EQ(
      render("{{ people | selectattr('age', 'gt', 30) | map(attribute='name') | join }}", kCtx),
      "ann");
  EXPECT_EQ(
      render("{{ people | selectattr('name', 'equalto', 'bob') | map(attribute='age') | first }}",
             kCtx),
      "25");
  EXPECT_EQ(render("{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('even') | "
                   "list }} {{ [0, 1, ''] | select | list }}"),
            "[1, 3] [1, 3] [1]");
  EXPECT_EQ(render("{{ ['a', 'B'] | map('upper') | list }} {{ people | map(attribute='zz', "
                   "default='-') | list }}",
                   kCtx),
            "['A', 'B'] ['-', '-']");
}

TEST(Filters, UniqueSortMinMaxSum) {
  EXPECT_EQ(render("{{ ['b', 'A', 'a'] | unique | list }} {{ ['b', 'A', 'a'] | sort }} {{ l | "
                   "sort(reverse=true) }}",
                   kCtx),
            "['b', 'A'] ['A', 'a', 'b'] [3, 2, 1]");
  EXPECT_EQ(render("{{ people | sort(attribute='age') | map(attribute='name') | join }}", kCtx),
            "bobann");
  EXPECT_EQ(render("{{ [1, 1.0, true, 2] | unique | list }}"), "[1, 2]");  // equal in Python
  EXPECT_EQ(render("{{ l | min }} {{ l | max }} {{ l | sum }} {{ people | sum(attribute='age') }} "
                   "{{ l | reverse | list }}",
                   kCtx),
            "1 3 6 56 [2, 1, 3]");
}

TEST(Filters, NumbersAndText) {
  EXPECT_EQ(render("{{ 2.5 | round }} {{ 3.14159 | round(2) }} {{ 3.1 | round(method='ceil') }} {{ "
                   "-3 | abs }}"),
            "2.0 3.14 4.0 3");
  EXPECT_EQ(render("[{{ 'a\\nb' | indent(2) }}] [{{ 'a\\nb' | indent(2, true) }}]"),
            "[a\n  b] [  a\n  b]");
  EXPECT_EQ(render("{{ 'one two' | wordcount }} {{ '%s-%s' | format('a', 1) }} {% for k, v in d | "
                   "dictsort %}{{ k }}{% endfor %}",
                   kCtx),
            "2 a-1 ab");
}

// ---- Tests -----------------------------------------------------------------------------------

TEST(Tests, Types) {
  EXPECT_EQ(render("{{ n is defined }} {{ missing is defined }} {{ missing is undefined }} {{ nil "
                   "is none }} {{ n is none }}",
                   kCtx),
            "True False True True False");
  EXPECT_EQ(render("{{ 'a' is string }} {{ d is mapping }} {{ l is mapping }} {{ l is iterable }} "
                   "{{ n is iterable }} {{ 'a' is sequence }} {{ l is sequence }}",
                   kCtx),
            "True True False True False True True");
  EXPECT_EQ(render("{{ n is number }} {{ f is number }} {{ 'a' is number }} {{ n is integer }} {{ "
                   "f is float }} {{ t is boolean }}",
                   kCtx),
            "True True False True True True");
  EXPECT_EQ(
      render("{{ t is true }} {{ 1 is true }} {{ false is false }} {{ n is not none }}", kCtx),
      "True False True True");
}

TEST(Tests, ValuesAndArguments) {
  EXPECT_EQ(render("{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) "
                   "}} {{ 2 is eq 2 }} {{ 2 is in [1, 2] }}"),
            "True True True False True True");
  EXPECT_EQ(render("{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ none is sameas none }}"),
            "True True True");
}

// ---- Functions -------------------------------------------------------------------------------

TEST(Functions, RangeNamespaceDict) {
  EXPECT_EQ(render("{{ range(3) | list }} {{ range(1, 4) | list }} {{ range(10, 0, -3) | list }}"),
            "[0, 1, 2] [1, 2, 3] [10, 7, 4, 1]");
  EXPECT_EQ(render("{{ dict(a=1) }}"), "{'a': 1}");
}

TEST(Functions, RaiseException) {
  try {
    render(
        "{% if true %}{{ raise_exception('Conversation roles must alternate user/assistant') }}{% "
        "endif %}");
    FAIL() << "no exception";
  } catch (const dsx::Error& e) {
    EXPECT_STREQ(e.what(), "Conversation roles must alternate user/assistant");
  }
}

}  // namespace
