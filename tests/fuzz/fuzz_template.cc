// A chat template from a model folder is code from a stranger: any source, rendered with a
// context like a chat request's, ends in text or a one-line dsx::Error.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "core/core.h"
#include "template/template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const nlohmann::ordered_json context = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "sys"},
      {"role": "user", "content": "hi"},
      {"role": "assistant", "content": null, "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": "{}"}}]},
      {"role": "user", "content": ["a", {"b": null}]}],
    "add_generation_prompt": true, "bos_token": "<s>", "x": [1, 2.5, "s", {"k": [true, null]}]})");
  dsx::TemplateOptions options = dsx::TemplateOptions::hf_chat();
  options.max_steps = 20000;  // keeps each input fast; the limits themselves are what is tested
  options.max_output_bytes = size_t{1} << 20;
  try {
    const dsx::Template tmpl =
        dsx::Template::parse(std::string(reinterpret_cast<const char*>(data), size), options);
    (void)tmpl.render(context);
  } catch (const dsx::Error& e) {
    if (std::string(e.what()).find('\n') != std::string::npos) __builtin_trap();
  }
  return 0;
}
