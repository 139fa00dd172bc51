#!/usr/bin/env python3
"""Writes jinja_cases.jsonl: templates rendered by the real Jinja2, as the oracle for test_template.

Each case is rendered in the environment transformers' apply_chat_template uses
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, its tojson and
raise_exception) or, for "options": "default", in a plain jinja2.Environment(). A case whose
render raises records "error": true. Run with Jinja2 3.1: python3 make_jinja_cases.py
"""
import json
import os

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment


def hf_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


ENVS = {"hf": hf_env(), "default": jinja2.Environment(extensions=["jinja2.ext.loopcontrols"])}

MSGS = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi <b> & \"you\" — 你好"},
    {"role": "assistant", "content": "Hello!", "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}}]},
    {"role": "tool", "content": "{\"temp\": 21.5}"},
]
CTX = {"messages": MSGS, "n": 7, "f": 2.5, "s": "  Hello World  ", "l": [3, 1, 2], "d": {"b": 1, "a": 2},
       "none": None, "t": True, "items": [{"name": "x", "v": 1}, {"name": "y", "v": 0}, {"name": "z", "v": 2}],
       "words": ["b", "A", "a", "c"], "nested": {"k": {"j": [10, 20]}}}

CASES = [
    # Text, output and whitespace control.
    ("text", "plain text", "hf"),
    ("output_int", "{{ n }}|{{ f }}|{{ none }}|{{ t }}|{{ l }}|{{ d }}", "hf"),
    ("output_str_repr", "{{ ['a', \"it's\", 'q\"', '\\n'] }}", "hf"),
    ("dash_strip", "a  \n  {{- n -}}  \n  b", "hf"),
    ("dash_block_strip", "a  \n  {%- if t -%}  \n  x  \n  {%- endif -%}  \n  b", "hf"),
    ("trim_blocks", "{% if t %}\nyes\n{% endif %}\nend", "hf"),
    ("trim_blocks_default", "{% if t %}\nyes\n{% endif %}\nend", "default"),
    ("lstrip_blocks", "a\n    {% if t %}\n    x\n    {% endif %}\nb", "hf"),
    ("lstrip_blocks_default", "a\n    {% if t %}\n    x\n    {% endif %}\nb", "default"),
    ("lstrip_not_var", "a\n    {{ n }}\nb", "hf"),
    ("lstrip_mid_line", "a  {% if t %}x{% endif %}  b", "hf"),
    ("plus_disables", "a\n  {%+ if t %}x{% endif +%}\nb", "hf"),
    ("comment", "a {# hidden #} b\n  {# c #}\nc", "hf"),
    ("comment_dash", "a   {#- hidden -#}   b", "hf"),
    ("trailing_newline", "x\n", "hf"),
    ("trailing_newline_default", "x\n\n", "default"),
    ("crlf", "a\r\n{% if t %}\r\nb\r\n{% endif %}\r\n", "hf"),
    ("raw", "{% raw %}{{ not rendered }}{% endraw %}", "hf"),
    ("after_var_newline_kept", "{{ n }}\n{{ n }}", "hf"),
    # set, namespace, scoping.
    ("set", "{% set x = n * 2 %}{{ x }}", "hf"),
    ("set_tuple", "{% set a, b = [1, 2] %}{{ a }}{{ b }}", "hf"),
    ("set_block", "{% set x %}  hi {{ n }}\n{% endset %}[{{ x }}]", "hf"),
    ("namespace", "{% set ns = namespace(c=0, s='') %}{% for i in l %}{% set ns.c = ns.c + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.c }} {{ ns.s }}", "hf"),
    ("namespace_print", "{% set ns = namespace(a=1, b='x') %}{{ ns }}", "hf"),
    ("loop_scope", "{% set y = 1 %}{% for x in [1,2] %}{{ y }}{% set y = y + 1 %}{{ y }},{% endfor %}{{ y }}", "hf"),
    ("loop_scope_iter", "{% for x in [1,2] %}{% if loop.first %}{% set z = 5 %}{% endif %}[{{ z }}]{% endfor %}", "hf"),
    ("if_scope", "{% if t %}{% set z = 3 %}{% endif %}{{ z }}", "hf"),
    ("with", "{% with a = 1, b = 2 %}{{ a + b }}{% endwith %}[{{ a }}]", "hf"),
    # if / elif / else.
    ("if_elif", "{% for i in [1,2,3] %}{% if i == 1 %}one{% elif i == 2 %}two{% else %}many{% endif %} {% endfor %}", "hf"),
    ("not_is_defined", "{% if not add_generation_prompt is defined %}undef{% endif %}", "hf"),
    # for loops.
    ("for_loop_vars", "{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }} {% endfor %}", "hf"),
    ("for_filter", "{% for x in l if x > 1 %}{{ x }}:{{ loop.index }}/{{ loop.length }} {% endfor %}", "hf"),
    ("for_else", "{% for x in [] %}x{% else %}empty{% endfor %}", "hf"),
    ("for_undefined", "{% for x in nothing %}x{% else %}none{% endfor %}", "hf"),
    ("for_dict", "{% for k in d %}{{ k }}={{ d[k] }};{% endfor %}", "hf"),
    ("for_items", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", "hf"),
    ("for_string", "{% for c in 'hé!' %}[{{ c }}]{% endfor %}", "hf"),
    ("for_nested_loop", "{% for a in [1,2] %}{% for b in [3,4] %}{{ loop.index }}{% endfor %}{{ loop.index }};{% endfor %}", "hf"),
    ("for_prev_next", "{% for x in l %}{{ loop.previtem }}-{{ loop.nextitem }}|{% endfor %}", "hf"),
    ("for_cycle", "{% for x in l %}{{ loop.cycle('a', 'b') }}{% endfor %}", "hf"),
    ("break_continue", "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}", "hf"),
    ("for_messages", "{% for m in messages %}{{ m.role }}:{{ m['content'] }}\n{% endfor %}", "hf"),
    # Operators.
    ("unary_pow", "{{ -10 ** 2 }} {{ -(10 ** 2) }} {{ 2 ** 3 ** 2 }}", "hf"),
    ("arith", "{{ 1 + 2 * 3 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 7.5 // 2 }} {{ -n }}", "hf"),
    ("float_repr", "{{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e-5 }} {{ 1.5e16 }} {{ 1e16 }} {{ 123.0 }} {{ 0.0001 }} {{ 1/3 }}", "hf"),
    ("concat", "{{ 'a' + 'b' }} {{ 'a' ~ 1 ~ none ~ t }} {{ [1] + [2] }} {{ 'ab' * 3 }} {{ [0] * 3 }}", "hf"),
    ("concat_precedence", "{{ 1 + 2 ~ 3 }}", "hf"),
    ("compare", "{{ 1 < 2 }} {{ 2 <= 1 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ '1' == 1 }} {{ none == none }} {{ [1,2] == [1,2] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 5 }}", "hf"),
    ("in", "{{ 1 in l }} {{ 'ell' in 'hello' }} {{ 'a' in d }} {{ 5 not in l }} {{ 'x' in nothing }}", "hf"),
    ("logic", "{{ t and 'yes' }} {{ none or 'fallback' }} {{ 0 or '' }} {{ not t }} {{ not none and t }}", "hf"),
    ("ternary", "{{ 'a' if t else 'b' }} {{ 'a' if none else 'b' }} [{{ 'a' if none }}]", "hf"),
    ("unary_filter_precedence", "{{ -2 | abs }} {{ -(2 | abs) }}", "hf"),
    ("not_precedence", "{{ not 1 == 2 }}", "hf"),
    # Access.
    ("attr_item", "{{ messages[0].role }} {{ messages[1]['content'] }} {{ nested.k.j[1] }} {{ nested['k']['j'][-1] }} {{ l.0 }}", "hf"),
    ("missing_key", "[{{ d.zzz }}][{{ messages[0].tool_calls }}][{{ l[10] }}]", "hf"),
    ("missing_key_tests", "{{ d.zzz is defined }} {{ messages[0].tool_calls is undefined }} {{ messages[0]['x'] is none }}", "hf"),
    ("slices", "{{ l[1:] }} {{ l[:-1] }} {{ l[::-1] }} {{ l[::2] }} {{ 'hello'[1:3] }} {{ 'héllo'[::-1] }} {{ messages[1:]|length }} {{ l[-100:100] }}", "hf"),
    ("string_index", "{{ 'héllo'[1] }}{{ 'abc'[-1] }}", "hf"),
    ("literals", "{{ [1, 'two', [3], {'k': none}] }} {{ {'a': 1, 'b': [true, false]} }} {{ (1, 2) | list }} {{ () | list }}", "hf"),
    ("string_escapes", "{{ 'tab\\there' }}|{{ \"q\\\"uote\" }}|{{ 'uni\\u00e9' }}|{{ 'hex\\x41' }}|{{ 'back\\\\slash' }}|{{ 'keep\\d' }}", "hf"),
    ("adjacent_strings", "{{ 'a' 'b' }}", "hf"),
    # String methods.
    ("str_methods", "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxhixx'.strip('x') }}|{{ s.upper() }}|{{ s.lower() }}|{{ 'hello world'.title() }}|{{ 'hELLO'.capitalize() }}", "hf"),
    ("str_split", "{{ 'a,b,,c'.split(',') }} {{ '  a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a b c'.rsplit(' ', 1) }} {{ ' a b c '.split(none, 1) }} {{ ' a b c '.rsplit(none, 1) }}", "hf"),
    ("str_affix", "{{ s.strip().startswith('Hello') }} {{ 'abc'.endswith('bc') }} {{ 'abc'.startswith(('x', 'a')) }}", "hf"),
    ("str_replace_find", "{{ 'aaa'.replace('a', 'b') }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'héllo'.find('l') }} {{ 'abc'.find('z') }} {{ 'banana'.count('an') }}", "hf"),
    ("str_format", "{{ '{} and {}'.format('a', 1) }} {{ '{1}{0}'.format('x', 'y') }} {{ '{name}!'.format(name='hi') }} {{ '{:>5}|{:<5}|{:^5}'.format('a', 'b', 'c') }} {{ '{:.2f}'.format(3.14159) }} {{ '{:05d}'.format(42) }}", "hf"),
    ("percent_format", "{{ '%s-%d' % ('a', 3) }} {{ '%5s|%-5s|%.2f|%x|%%' % ('a', 'b', 3.14159, 255) }} {{ '%s' % 'one' }}", "hf"),
    ("str_join_method", "{{ ', '.join(['a', 'b']) }} {{ '-'.join('abc') }}", "hf"),
    ("str_predicates", "{{ '123'.isdigit() }} {{ 'abc'.isalpha() }} {{ ' '.isspace() }} {{ 'abc'.islower() }} {{ 'ABC'.isupper() }}", "hf"),
    ("dict_methods", "{{ d.keys() | list }} {{ d.values() | list }} {{ d.get('a') }} {{ d.get('zz', 'dflt') }} {{ d.get('zz') }}", "hf"),
    # Filters.
    ("f_trim_length", "{{ s | trim }}|{{ s | length }}|{{ 'héllo' | length }}|{{ l | count }}|{{ d | length }}|{{ nothing | length }}|{{ 'xax' | trim('x') }}", "hf"),
    ("f_first_last", "{{ l | first }} {{ l | last }} {{ 'abc' | first }} {{ 'abc' | last }} [{{ [] | first }}]", "hf"),
    ("f_join", "{{ l | join(', ') }} {{ l | join }} {{ items | join('/', attribute='name') }}", "hf"),
    ("f_default", "{{ nothing | default('d') }} {{ none | default('d') }} {{ '' | default('d', true) }} {{ n | d(5) }} {{ nothing | default }}", "hf"),
    ("f_case", "{{ 'Hello' | upper }} {{ 'Hello' | lower }} {{ 'hello world-foo' | title }} {{ 'hELLO' | capitalize }} {{ 1 | upper }}", "hf"),
    ("f_replace", "{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'abc' | replace('', '-') }}", "hf"),
    ("f_string_int_float", "{{ 3 | string }} {{ 3.0 | string }} {{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '2.5' | float }} {{ 'z' | float }} {{ true | int }} {{ '0x1A' | int(base=16) }}", "hf"),
    ("f_list", "{{ 'abc' | list }} {{ d | list }} {{ l | list }}", "hf"),
    ("f_tojson", "{{ messages | tojson }}", "hf"),
    ("f_tojson_indent", "{{ messages[2] | tojson(indent=2) }}", "hf"),
    ("f_tojson_kwargs", "{{ d | tojson(sort_keys=true) }} {{ d | tojson(separators=(',', ':')) }} {{ 'é' | tojson(ensure_ascii=true) }} {{ [1.0, 1e20, none, true] | tojson }}", "hf"),
    ("f_tojson_indent_str", "{{ {'a': [1, {}], 'b': []} | tojson(indent='\\t') }}", "hf"),
    ("f_safe_escape", "{{ '<b>' | safe }} {{ '<a href=\"x\">&\\'</a>' | escape }} {{ '<' | e }}", "hf"),
    ("f_items", "{{ d | items | list | length }} {% for k, v in d | items %}{{ k }}{{ v }}{% endfor %}", "hf"),
    ("f_selectattr", "{{ items | selectattr('v') | map(attribute='name') | list }} {{ items | rejectattr('v') | map(attribute='name') | list }} {{ items | selectattr('name', 'equalto', 'y') | list }} {{ messages | selectattr('role', 'in', ['user', 'tool']) | map(attribute='role') | join(',') }}", "hf"),
    ("f_select", "{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('even') | list }} {{ [0, 1, '', 'a'] | select | list }} {{ l | select('gt', 1) | list }}", "hf"),
    ("f_map", "{{ items | map(attribute='v') | list }} {{ ['a', 'B'] | map('upper') | list }} {{ [1, 2] | map('string') | join('+') }} {{ items | map(attribute='zz', default='-') | list }} {{ messages | selectattr('tool_calls', 'defined') | map(attribute='tool_calls.0.function.name') | list }}", "hf"),
    ("f_unique_sort", "{{ words | unique | list }} {{ words | sort }} {{ words | sort(case_sensitive=true) }} {{ l | sort(reverse=true) }} {{ items | sort(attribute='v') | map(attribute='name') | list }}", "hf"),
    ("f_min_max_sum", "{{ l | min }} {{ l | max }} {{ words | min }} {{ l | sum }} {{ items | sum(attribute='v') }} {{ [1.5, 2] | sum }} {{ items | max(attribute='v') }}", "hf"),
    ("f_reverse", "{{ l | reverse | list }} {{ 'abc' | reverse }}", "hf"),
    ("f_round_abs", "{{ 2.5 | round }} {{ 3.5 | round }} {{ 3.14159 | round(2) }} {{ 2.675 | round(2) }} {{ 3.1 | round(method='ceil') }} {{ 3.9 | round(0, 'floor') }} {{ -3 | abs }} {{ -2.5 | abs }}", "hf"),
    ("f_dictsort", "{% for k, v in d | dictsort %}{{ k }}{{ v }}{% endfor %} {% for k, v in d | dictsort(by='value') %}{{ k }}{% endfor %} {{ (d | dictsort(reverse=true))[0][0] }}", "hf"),
    ("f_indent", "[{{ 'a\\nb\\n\\nc' | indent(2) }}] [{{ 'a\\nb' | indent(2, true) }}] [{{ 'a\\n\\nb' | indent(2, blank=true) }}] [{{ 'x\\ny' | indent('> ') }}]", "hf"),
    ("f_wordcount_center", "{{ 'hello big world' | wordcount }} [{{ 'ab' | center(7) }}]", "hf"),
    ("f_format", "{{ '%s=%d' | format('x', 4) }}", "hf"),
    ("f_chain", "{{ '  A b  ' | trim | lower | replace(' ', '_') }}", "hf"),
    ("filter_block", "{% filter upper %}hello {{ n }}{% endfilter %}", "hf"),
    # Tests.
    ("tests_types", "{{ 'a' is string }} {{ 1 is string }} {{ d is mapping }} {{ l is mapping }} {{ l is iterable }} {{ n is iterable }} {{ 'a' is sequence }} {{ n is number }} {{ f is number }} {{ t is number }} {{ 'a' is number }}", "hf"),
    ("tests_values", "{{ none is none }} {{ 0 is none }} {{ t is true }} {{ 1 is true }} {{ false is false }} {{ t is boolean }} {{ n is integer }} {{ t is integer }} {{ f is float }} {{ n is float }}", "hf"),
    ("tests_defined", "{{ n is defined }} {{ nothing is defined }} {{ nothing is undefined }} {{ n is not defined }}", "hf"),
    ("tests_numbers", "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 2 is eq 2 }} {{ 2 is ne 2 }} {{ 2 is lt 3 }} {{ 2 is ge 3 }} {{ 2 is in [1, 2] }}", "hf"),
    ("tests_strings", "{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'aBc' is lower }} {{ 'upper' is filter }} {{ 'odd' is test }} {{ none is sameas none }} {{ 1 is sameas true }}", "hf"),
    ("tests_in_ternary", "{{ 'yes' if nothing is defined else 'no' }} {{ 'y' if n is number and n > 3 else 'n' }}", "hf"),
    # Functions and macros.
    ("range", "{{ range(3) | list }} {{ range(1, 4) | list }} {{ range(10, 0, -3) | list }} {{ range(0) | list }}", "hf"),
    ("macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('a') }} {{ greet('b', '?') }} {{ greet(name='c', punct='.') }}", "hf"),
    ("macro_scope", "{% set g = 'global' %}{% macro m() %}{{ g }}{% set g = 'local' %}{{ g }}{% endmacro %}{{ m() }} {{ g }}", "hf"),
    ("macro_recursive", "{% macro fact(k) %}{% if k <= 1 %}1{% else %}{{ k * (fact(k - 1) | int) }}{% endif %}{% endmacro %}{{ fact(5) }}", "hf"),
    ("macro_in_loop", "{% macro tag(x) %}<{{ x }}>{% endmacro %}{% for i in l %}{{ tag(i) }}{% endfor %}", "hf"),
    ("dict_global", "{{ dict(a=1, b='x') }}", "hf"),
    ("raise_exception", "{% if n > 5 %}{{ raise_exception('n is too big') }}{% endif %}", "hf"),
    # Errors.
    ("err_add_str_int", "{{ 'a' + 1 }}", "hf"),
    ("err_undefined_add", "{{ nothing + 'a' }}", "hf"),
    ("err_call_undefined", "{{ nothing() }}", "hf"),
    ("err_div_zero", "{{ 1 / 0 }}", "hf"),
    ("err_int_len", "{{ n | length }}", "hf"),
    ("err_mutate", "{{ l.append(4) }}", "hf"),
    ("err_tojson_undefined", "{{ nothing | tojson }}", "hf"),
    ("err_order", "{{ [1, 'a'] | sort }}", "hf"),
    ("err_unpack", "{% for a, b in [[1, 2, 3]] %}{% endfor %}", "hf"),
]


# Multi-line templates in the style of popular chat templates (written for this test, not
# copied): indentation and {%- -%} everywhere, as real templates have.
CHATML_TOOLS = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

ALTERNATING = """{{ bos_token }}
{% if messages[0]['role'] == 'system' %}
    {% set loop_messages = messages[1:] %}
    {% set system_message = messages[0]['content'] | trim + '\\n\\n' %}
{% else %}
    {% set loop_messages = messages %}
    {% set system_message = '' %}
{% endif %}
{% for message in loop_messages %}
    {% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
    {% endif %}
    {% if loop.index0 == 0 %}
        {% set content = system_message + message['content'] %}
    {% else %}
        {% set content = message['content'] %}
    {% endif %}
    {% if message['role'] == 'user' %}
        {{ '[INST] ' + content | trim + ' [/INST]' }}
    {% elif message['role'] == 'assistant' %}
        {{ ' ' + content | trim + eos_token }}
    {% endif %}
{% endfor %}
"""

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city — today",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
CONV = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "  Weather in Paris?  "}]
TOOL_CONV = [{"role": "user", "content": "Weather in Paris and Rome?"},
             {"role": "assistant", "content": None, "tool_calls": [
                 {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
                 {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}}]},
             {"role": "tool", "content": "21C"}, {"role": "tool", "content": "18C"},
             {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nParis 21C, Rome 18C."}]
QWEN_TOOL_CONV = [{"role": "user", "content": "Weather?"},
                  {"role": "assistant", "content": "", "tool_calls": [
                      {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
                  {"role": "tool", "content": "21C"}, {"role": "tool", "content": "sunny"}]

HERE = os.path.dirname(os.path.abspath(__file__))


def deepseek(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return f.read()


CHATS = [
    ("chatml_tools", CHATML_TOOLS, QWEN_TOOL_CONV, True, {"tools": TOOLS}),
    ("chatml_plain", CHATML_TOOLS, CONV, True, {}),
    ("alternating", ALTERNATING, CONV, False, {}),
    ("alternating_error", ALTERNATING, CONV[:2] + CONV[1:2], True, {}),
    ("v2_chat", "deepseek-v2-chat.jinja", CONV, True, {}),
    ("coder_v2", "deepseek-coder-v2-instruct.jinja", CONV[1:], False, {}),
    ("v3_conv", "deepseek-v3.jinja", CONV, True, {}),
    ("v3_tools", "deepseek-v3.jinja", TOOL_CONV, True, {}),
    ("r1_conv", "deepseek-r1.jinja", CONV, True, {}),
    ("r1_tools", "deepseek-r1.jinja", TOOL_CONV, False, {}),
]


def chat_case(name, source, messages, add_generation_prompt, extra):
    is_file = source.endswith(".jinja")
    case = {"name": name, "chat": True, "messages": messages, "add_generation_prompt": add_generation_prompt,
            "extra": extra}
    case["template_file" if is_file else "template"] = source
    template = deepseek(source) if is_file else source
    ctx = {"messages": messages, "tools": None, "documents": None, "add_generation_prompt": add_generation_prompt,
           "bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>", **extra}
    try:
        case["expected"] = ENVS["hf"].from_string(template).render(**ctx)
    except jinja2.exceptions.TemplateSyntaxError:
        raise
    except Exception as e:
        case["error"] = True
        case["message"] = str(e)
    return case


def main():
    out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jinja_cases.jsonl")
    with open(out_path, "w", encoding="utf-8") as out:
        for name, source, env_name in CASES:
            case = {"name": name, "options": env_name, "template": source, "context": CTX}
            try:
                case["expected"] = ENVS[env_name].from_string(source).render(**CTX)
            except jinja2.exceptions.TemplateSyntaxError:
                raise
            except Exception as e:  # a runtime error: dsx must raise too
                case["error"] = True
                case["message"] = str(e)
            out.write(json.dumps(case, ensure_ascii=False) + "\n")
        for chat in CHATS:
            out.write(json.dumps(chat_case(*chat), ensure_ascii=False) + "\n")
    print(f"wrote {len(CASES) + len(CHATS)} cases to {out_path}")


if __name__ == "__main__":
    main()
