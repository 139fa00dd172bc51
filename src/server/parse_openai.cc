// OpenAI request bodies -> Job. Field names, defaults and limits follow the OpenAI API reference:
// unknown fields are ignored, known fields of the wrong type or out of range are a 400.
#include <random>

#include "server/api.h"

namespace dsx::server {
namespace {

void check_range(std::optional<double> v, double lo, double hi, const char* name) {
  if (v && !(*v >= lo && *v <= hi))
    throw ApiError(400,
                   std::string("'") + name + "' must be in [" + dump(json(lo)) + ", " +
                       dump(json(hi)) + "], got " + dump(json(*v)),
                   name);
}

void check_model(const json& body, const ApiContext& ctx, Job& job) {
  const auto model = get_string(body, "model");
  if (!model || model->empty()) throw ApiError(400, "'model' is required", "model");
  if (!model_matches(*model, ctx.model_name))
    throw ApiError(
        404,
        "the model '" + *model + "' does not exist; this server serves '" + ctx.model_name + "'",
        "model", "model_not_found");
  job.model = *model;
}

// n and best_of: one choice per request is all the engine produces.
void check_single_choice(const json& body, const char* name) {
  const auto n = get_int(body, name);
  if (n && *n != 1)
    throw ApiError(400, std::string("'") + name + "' must be 1: one choice per request", name);
}

uint64_t fresh_seed() {
  static thread_local std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// Fields common to both endpoints: sampling, stop strings, stream flags.
void parse_common(const json& body, const ApiContext& ctx, Job& job) {
  SamplingParams& s = job.request.sampling;
  const auto temperature = get_number(body, "temperature");
  const auto top_p = get_number(body, "top_p");
  const auto presence = get_number(body, "presence_penalty");
  const auto frequency = get_number(body, "frequency_penalty");
  check_range(temperature, 0.0, 2.0, "temperature");
  check_range(top_p, 0.0, 1.0, "top_p");
  check_range(presence, -2.0, 2.0, "presence_penalty");
  check_range(frequency, -2.0, 2.0, "frequency_penalty");
  if (top_p && *top_p == 0.0) throw ApiError(400, "'top_p' must be > 0", "top_p");
  s.temperature = static_cast<float>(temperature.value_or(1.0));
  s.top_p = static_cast<float>(top_p.value_or(1.0));
  s.presence_penalty = static_cast<float>(presence.value_or(0.0));
  s.frequency_penalty = static_cast<float>(frequency.value_or(0.0));
  // llama.cpp's extensions, for clients that send them.
  const auto top_k = get_int(body, "top_k");
  const auto min_p = get_number(body, "min_p");
  const auto repeat_penalty = get_number(body, "repeat_penalty");
  if (top_k && (*top_k < 0 || *top_k > INT32_MAX))
    throw ApiError(400, "'top_k' must be >= 0", "top_k");
  check_range(min_p, 0.0, 1.0, "min_p");
  check_range(repeat_penalty, 0.0, 100.0, "repeat_penalty");
  if (top_k) s.top_k = static_cast<int>(*top_k);
  if (min_p) s.min_p = static_cast<float>(*min_p);
  if (repeat_penalty) s.repeat_penalty = static_cast<float>(*repeat_penalty);
  const auto seed = get_int(body, "seed");
  s.seed = seed ? static_cast<uint64_t>(*seed) : fresh_seed();
  try {
    s.validate();
  } catch (const Error& e) {
    throw ApiError(400, e.what());
  }

  job.stops = get_stop(body, "stop", ctx.max_stop_strings);
  job.stream = get_bool(body, "stream").value_or(false);
  if (body.contains("stream_options") && !body["stream_options"].is_null()) {
    const json& so = body["stream_options"];
    if (!so.is_object())
      throw ApiError(400, "'stream_options' must be an object", "stream_options", "invalid_type");
    job.include_usage = get_bool(so, "include_usage", "stream_options").value_or(false);
  }
  if (ctx.tokenizer->eos_id()) job.request.stop_tokens.push_back(*ctx.tokenizer->eos_id());
}

}  // namespace

Job parse_openai_chat(const json& body, const ApiContext& ctx) {
  Job job;
  check_model(body, ctx, job);
  check_single_choice(body, "n");
  if (!body.contains("messages")) throw ApiError(400, "'messages' is required", "messages");
  if (body.contains("tools") && body["tools"].is_array() && !body["tools"].empty())
    throw ApiError(400, "'tools' are not supported by this server", "tools");
  if (body.contains("response_format") && !body["response_format"].is_null()) {
    const auto type = get_string(body["response_format"], "type", "response_format");
    if (!body["response_format"].is_object() || type.value_or("text") != "text")
      throw ApiError(400, "only response_format {\"type\": \"text\"} is supported",
                     "response_format");
  }
  parse_common(body, ctx, job);
  job.chat_logprobs = get_bool(body, "logprobs").value_or(false);
  const auto top = get_int(body, "top_logprobs");
  if (top && (*top < 0 || *top > 20))
    throw ApiError(400, "'top_logprobs' must be in [0, 20]", "top_logprobs");
  if (top && !job.chat_logprobs)
    throw ApiError(400, "'top_logprobs' requires 'logprobs': true", "top_logprobs");
  if (job.chat_logprobs) job.request.top_logprobs = static_cast<int>(top.value_or(0));

  job.request.prompt = chat_prompt(ctx, body["messages"], "messages");
  // max_completion_tokens replaced max_tokens in the API; when both come, the newer one wins.
  const auto max_completion = get_int(body, "max_completion_tokens");
  const auto max_tokens = get_int(body, "max_tokens");
  const char* param = max_completion ? "max_completion_tokens" : "max_tokens";
  job.request.max_tokens = settle_max_tokens(ctx, job.request.prompt.size(),
                                             max_completion ? max_completion : max_tokens,
                                             /*clamp=*/false, param, "messages");
  return job;
}

Job parse_openai_completion(const json& body, const ApiContext& ctx) {
  Job job;
  check_model(body, ctx, job);
  check_single_choice(body, "n");
  check_single_choice(body, "best_of");
  if (!body.contains("prompt") || body["prompt"].is_null())
    throw ApiError(400, "'prompt' is required", "prompt");
  parse_common(body, ctx, job);

  const auto logprobs = get_int(body, "logprobs");
  if (logprobs && (*logprobs < 0 || *logprobs > 20))
    throw ApiError(400, "'logprobs' must be in [0, 20]", "logprobs");
  if (logprobs) {
    job.legacy_logprobs = static_cast<int>(*logprobs);
    job.request.top_logprobs = job.legacy_logprobs;
  }
  const bool echo = get_bool(body, "echo").value_or(false);
  // Prompt logprobs would need a scoring pass the engine does not offer; refusing is clearer
  // than returning arrays that do not line up with the echoed text.
  if (echo && logprobs)
    throw ApiError(400, "'echo' together with 'logprobs' is not supported", "echo");
  const auto suffix = get_string(body, "suffix");

  // One prompt: a string, token ids, or a batch of exactly one of those.
  json prompt = body["prompt"];
  if (prompt.is_array() && prompt.size() == 1 && (prompt[0].is_string() || prompt[0].is_array()))
    prompt = json(prompt[0]);
  const int32_t vocab = ctx.tokenizer->vocab_size();
  if (prompt.is_string()) {
    const std::string text = prompt.get<std::string>();
    if (suffix && !suffix->empty()) {
      job.request.prompt = fim_prompt(ctx, text, *suffix);
    } else {
      job.request.prompt = text_prompt(ctx, text);
    }
    if (echo) job.echo = text;
  } else if (prompt.is_array() && !prompt.empty()) {
    if (suffix && !suffix->empty())
      throw ApiError(400, "'suffix' needs a text prompt, not token ids", "suffix");
    for (const json& t : prompt) {
      if (!t.is_number_integer())
        throw ApiError(400, "'prompt' must be a string, an array of token ids, or a batch of one",
                       "prompt", "invalid_type");
      const int64_t id = t.get<int64_t>();
      if (id < 0 || id >= vocab)
        throw ApiError(400,
                       "'prompt' token id " + std::to_string(id) + " is outside [0, " +
                           std::to_string(vocab) + ")",
                       "prompt");
      job.request.prompt.push_back(static_cast<int32_t>(id));
    }
    if (echo) job.echo = ctx.tokenizer->decode(job.request.prompt);
  } else if (prompt.is_array() && prompt.size() > 1) {
    throw ApiError(400, "only one prompt per request is supported", "prompt");
  } else {
    throw ApiError(400, "'prompt' must be a non-empty string or array of token ids", "prompt",
                   "invalid_type");
  }
  if (job.request.prompt.empty()) throw ApiError(400, "'prompt' is empty", "prompt");
  // The legacy endpoint's documented default is 16 tokens.
  job.request.max_tokens =
      settle_max_tokens(ctx, job.request.prompt.size(), get_int(body, "max_tokens").value_or(16),
                        /*clamp=*/false, "max_tokens", "prompt");
  return job;
}

}  // namespace dsx::server
