// Prompt building: chat messages through the model's template, plain text, fill-in-the-middle;
// then the context check that decides max_tokens.
#include "core/core.h"
#include "server/api.h"
#include "template/template.h"

namespace dsx::server {
namespace {

std::string special_text(const Tokenizer& tok, std::optional<int32_t> id) {
  return id ? tok.token_bytes(*id) : std::string();
}

// OpenAI content: a string, null (assistant tool calls), or an array of parts of which we can
// only read text; anything else (images, audio) is refused rather than silently dropped.
ordered_json content_text(const json& content, const std::string& field) {
  if (content.is_null() || content.is_string()) return content;
  if (!content.is_array())
    throw ApiError(400, "'" + field + "' must be a string or an array of content parts", field,
                   "invalid_type");
  std::string text;
  for (const json& part : content) {
    const std::string type = part.is_object() && part.contains("type") && part["type"].is_string()
                                 ? part["type"].get<std::string>()
                                 : std::string();
    if (type != "text" || !part.contains("text") || !part["text"].is_string())
      throw ApiError(400, "'" + field + "': only text content parts are supported", field);
    text += part["text"].get<std::string>();
  }
  return text;
}

}  // namespace

std::vector<int32_t> chat_prompt(const ApiContext& ctx, const json& messages, const char* param) {
  if (!messages.is_array())
    throw ApiError(400, std::string("'") + param + "' must be an array", param, "invalid_type");
  if (messages.empty())
    throw ApiError(400, std::string("'") + param + "' must not be empty", param);
  const Tokenizer& tok = *ctx.tokenizer;
  if (tok.chat_template().empty())
    throw ApiError(400, "the model has no chat template; use the completions endpoint", param);
  ordered_json msgs = ordered_json::array();
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string where = std::string(param) + "[" + std::to_string(i) + "]";
    const json& m = messages[i];
    if (!m.is_object())
      throw ApiError(400, "'" + where + "' must be an object", where, "invalid_type");
    const auto role = get_string(m, "role", where);
    if (!role) throw ApiError(400, "'" + where + ".role' is required", where + ".role");
    // Keep the other keys (name, tool_calls, ...) for templates that read them.
    ordered_json out = ordered_json::parse(m.dump());
    // OpenAI's newer "developer" role plays the system role; templates only know "system".
    out["role"] = *role == "developer" ? "system" : *role;
    out["content"] =
        content_text(m.contains("content") ? m["content"] : json(nullptr), where + ".content");
    msgs.push_back(std::move(out));
  }
  std::string text;
  try {
    text = render_chat_template(tok.chat_template(), msgs, /*add_generation_prompt=*/true,
                                special_text(tok, tok.bos_id()), special_text(tok, tok.eos_id()));
  } catch (const Error& e) {
    // raise_exception in a template reports bad conversations (e.g. roles out of order).
    throw ApiError(400, std::string("chat template: ") + e.what(), param);
  }
  // The template writes BOS and the role markers as text: parse special tokens here (and only
  // here), since that is the text the model was trained on.
  try {
    return tok.encode(text, /*parse_special=*/true);
  } catch (const Error& e) {
    throw ApiError(400, e.what(), param);
  }
}

std::vector<int32_t> text_prompt(const ApiContext& ctx, const std::string& text) {
  const Tokenizer& tok = *ctx.tokenizer;
  std::vector<int32_t> ids;
  if (tok.add_bos() && tok.bos_id()) ids.push_back(*tok.bos_id());
  try {
    const std::vector<int32_t> body = tok.encode(text, /*parse_special=*/true);
    ids.insert(ids.end(), body.begin(), body.end());
  } catch (const Error& e) {
    throw ApiError(400, e.what(), "prompt");
  }
  return ids;
}

std::vector<int32_t> fim_prompt(const ApiContext& ctx, const std::string& prefix,
                                const std::string& suffix) {
  const Tokenizer& tok = *ctx.tokenizer;
  std::vector<int32_t> ids;
  if (tok.add_bos() && tok.bos_id()) ids.push_back(*tok.bos_id());
  try {
    const std::vector<int32_t> body = tok.encode_fim(prefix, suffix);
    ids.insert(ids.end(), body.begin(), body.end());
  } catch (const Error& e) {
    throw ApiError(400, e.what(), "suffix");
  }
  return ids;
}

int64_t settle_max_tokens(const ApiContext& ctx, size_t prompt_tokens,
                          std::optional<int64_t> requested, bool clamp, const char* param,
                          const char* prompt_param) {
  const int64_t n = static_cast<int64_t>(prompt_tokens);
  const int64_t room = ctx.context_size - n;
  if (room < 1)
    throw ApiError(400,
                   "the prompt has " + std::to_string(n) + " tokens; the context size is " +
                       std::to_string(ctx.context_size) + " and must leave room for 1 more",
                   prompt_param, "context_length_exceeded");
  if (!requested) return room;
  if (*requested < 1)
    throw ApiError(
        400, std::string("'") + param + "' must be >= 1, got " + std::to_string(*requested), param);
  if (*requested > room) {
    if (clamp) return room;
    throw ApiError(400,
                   std::string("'") + param + "' is " + std::to_string(*requested) +
                       " but the prompt has " + std::to_string(n) +
                       " tokens and the context size is " + std::to_string(ctx.context_size) +
                       ": at most " + std::to_string(room) + " tokens can be generated",
                   param, "context_length_exceeded");
  }
  return *requested;
}

}  // namespace dsx::server
