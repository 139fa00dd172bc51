// A Jinja2 interpreter for Hugging Face chat templates (DeepSeek's and the usual others).
//
// It covers the part of Jinja2 that chat templates use: text, {{ }}, {% %} and {# #} with
// whitespace control, set / namespace / if / for / macro / with / filter blocks, break and
// continue, the Python-like expression language with string and dict methods, and the filters
// and tests listed in filters.cc. Anything else is a parse error that names the construct and
// its line and column, so an unsupported template fails loudly instead of rendering wrong text.
//
// Values are JSON: objects, arrays, strings, numbers, booleans and null, printed the way
// Python prints them (None, True, ['a', 1]). Objects keep their key order (ordered_json), as
// Python dicts do; a plain nlohmann::json argument converts implicitly, with sorted keys.
//
// Known differences from Jinja2, none of which DeepSeek's templates meet: tuples are lists (so
// they print as [1, 2]); an Undefined stored in a list or dict becomes None; an attribute of an
// undefined value is undefined rather than an error; upper/lower/title map ASCII letters only;
// integers are 64-bit (overflow is an error). Unsupported, each a named parse error: call
// blocks, extends/block/include/import, recursive loops, *args/**kwargs.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace dsx {

namespace tpl {
struct Program;
}

struct TemplateOptions {
  bool trim_blocks = false;            // drop the first newline after a block or comment tag
  bool lstrip_blocks = false;          // drop spaces and tabs before a block or comment tag
  bool keep_trailing_newline = false;  // keep a single newline at the end of the source

  // Bounds on one render, so a hostile template fails instead of running away. A step is a
  // statement, a loop iteration or a call; chat templates take tens per message.
  size_t max_output_bytes = size_t{64} << 20;
  long long max_steps = 5'000'000;

  // The environment transformers' apply_chat_template renders with.
  static TemplateOptions hf_chat() { return {true, true, false}; }
};

class Template {
 public:
  // Throws dsx::Error naming the problem and its position, e.g.
  // "template: unsupported construct 'call' at line 3 col 5".
  static Template parse(std::string_view source, const TemplateOptions& options = {});

  // Renders with `context` (an object) as the global variables. Throws dsx::Error on runtime
  // errors; raise_exception(msg) throws dsx::Error whose message is msg. Output size, loop
  // iterations and call depth are bounded, so hostile templates fail instead of exhausting memory.
  std::string render(const nlohmann::ordered_json& context) const;

 private:
  explicit Template(std::shared_ptr<const tpl::Program> program) : program_(std::move(program)) {}
  std::shared_ptr<const tpl::Program> program_;
};

// Renders a Hugging Face chat template the way transformers' apply_chat_template does: globals
// messages, add_generation_prompt, bos_token, eos_token, tools and documents (None unless `extra`
// sets them), then every key of `extra`; trim_blocks and lstrip_blocks on.
std::string render_chat_template(
    std::string_view tmpl, const nlohmann::ordered_json& messages, bool add_generation_prompt,
    const std::string& bos_token, const std::string& eos_token,
    const nlohmann::ordered_json& extra = nlohmann::ordered_json::object());

}  // namespace dsx
