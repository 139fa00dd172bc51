// render_chat_template: the context transformers' apply_chat_template builds, rendered with the
// environment it uses (trim_blocks and lstrip_blocks on, keep_trailing_newline off).
#include "core/core.h"
#include "template/template.h"

namespace dsx {

std::string render_chat_template(std::string_view tmpl, const nlohmann::ordered_json& messages,
                                 bool add_generation_prompt, const std::string& bos_token,
                                 const std::string& eos_token,
                                 const nlohmann::ordered_json& extra) {
  if (!messages.is_array()) throw Error("template: chat messages must be a list");
  if (!extra.is_object() && !extra.is_null())
    throw Error("template: extra chat template variables must be an object");
  // transformers always passes tools and documents, as None when the request has none, so
  // `tools is defined` holds and `tools is none` tells whether any were given.
  nlohmann::ordered_json context = nlohmann::ordered_json::object();
  context["messages"] = messages;
  context["tools"] = nullptr;
  context["documents"] = nullptr;
  context["add_generation_prompt"] = add_generation_prompt;
  context["bos_token"] = bos_token;
  context["eos_token"] = eos_token;
  if (extra.is_object()) {
    for (auto it = extra.begin(); it != extra.end(); ++it) context[it.key()] = it.value();
  }
  return Template::parse(tmpl, TemplateOptions::hf_chat()).render(context);
}

}  // namespace dsx
