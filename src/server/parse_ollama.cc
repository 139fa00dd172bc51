// Ollama request bodies -> Job. Defaults are Ollama's (temperature 0.8, top_k 40, top_p 0.9,
// repeat_penalty 1.1 over the last 64 tokens, stream on); num_predict beyond the context is cut
// to fit, as Ollama does, rather than refused.
#include <random>

#include "server/api.h"

namespace dsx::server {
namespace {

void check_model(const json& body, const ApiContext& ctx, Job& job) {
  const auto model = get_string(body, "model");
  if (!model || model->empty()) throw ApiError(400, "model is required", "model");
  if (!model_matches(*model, ctx.model_name))
    throw ApiError(404, "model '" + *model + "' not found", "model", "model_not_found");
  job.model = *model;
}

void refuse_nonempty(const json& body, const char* name, const char* what) {
  if (!body.contains(name)) return;
  const json& v = body[name];
  const bool empty = v.is_null() || ((v.is_string() || v.is_array() || v.is_object()) && v.empty());
  if (!empty) throw ApiError(400, std::string(what) + " not supported by this server", name);
}

void check_range(std::optional<double> v, double lo, double hi, const std::string& name) {
  if (v && !(*v >= lo && *v <= hi))
    throw ApiError(400,
                   name + " must be in [" + dump(json(lo)) + ", " + dump(json(hi)) + "], got " +
                       dump(json(*v)),
                   name);
}

// options{...} -> sampling, stop strings and num_predict (returned; nullopt = to the end).
std::optional<int64_t> parse_options(const json& body, const ApiContext& ctx, Job& job) {
  SamplingParams& s = job.request.sampling;
  s.temperature = 0.8f;
  s.top_k = 40;
  s.top_p = 0.9f;
  s.repeat_penalty = 1.1f;
  s.repeat_last_n = 64;
  std::random_device rd;
  s.seed = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  if (ctx.tokenizer->eos_id()) job.request.stop_tokens.push_back(*ctx.tokenizer->eos_id());
  if (!body.contains("options") || body["options"].is_null()) return std::nullopt;
  const json& o = body["options"];
  if (!o.is_object()) throw ApiError(400, "options must be an object", "options", "invalid_type");
  const std::string w = "options";
  const auto temperature = get_number(o, "temperature", w);
  const auto top_k = get_int(o, "top_k", w);
  const auto top_p = get_number(o, "top_p", w);
  const auto min_p = get_number(o, "min_p", w);
  const auto repeat_penalty = get_number(o, "repeat_penalty", w);
  const auto repeat_last_n = get_int(o, "repeat_last_n", w);
  const auto presence = get_number(o, "presence_penalty", w);
  const auto frequency = get_number(o, "frequency_penalty", w);
  const auto seed = get_int(o, "seed", w);
  const auto num_predict = get_int(o, "num_predict", w);
  check_range(temperature, 0.0, 100.0, "options.temperature");
  check_range(top_p, 0.0, 1.0, "options.top_p");
  check_range(min_p, 0.0, 1.0, "options.min_p");
  check_range(repeat_penalty, 0.0, 100.0, "options.repeat_penalty");
  check_range(presence, -100.0, 100.0, "options.presence_penalty");
  check_range(frequency, -100.0, 100.0, "options.frequency_penalty");
  if (top_k && (*top_k < 0 || *top_k > INT32_MAX))
    throw ApiError(400, "options.top_k must be >= 0", "options.top_k");
  if (repeat_last_n && (*repeat_last_n < -1 || *repeat_last_n > INT32_MAX))
    throw ApiError(400, "options.repeat_last_n must be >= -1", "options.repeat_last_n");
  if (temperature) s.temperature = static_cast<float>(*temperature);
  if (top_k) s.top_k = static_cast<int>(*top_k);
  // Ollama treats top_p 0 as "off" rather than as an empty set.
  if (top_p) s.top_p = *top_p > 0.0 ? static_cast<float>(*top_p) : 1.0f;
  if (min_p) s.min_p = static_cast<float>(*min_p);
  if (repeat_penalty)
    s.repeat_penalty = *repeat_penalty > 0.0 ? static_cast<float>(*repeat_penalty) : 1.0f;
  if (repeat_last_n) s.repeat_last_n = static_cast<int>(*repeat_last_n);
  if (presence) s.presence_penalty = static_cast<float>(*presence);
  if (frequency) s.frequency_penalty = static_cast<float>(*frequency);
  if (seed) s.seed = static_cast<uint64_t>(*seed);
  try {
    s.validate();
  } catch (const Error& e) {
    throw ApiError(400, std::string("options.") + e.what());
  }
  job.stops = get_stop(o, "stop", ctx.max_stop_strings, w);
  // -1: until the context is full; -2: fill the context. Both mean "no limit" here.
  if (num_predict && (*num_predict == -1 || *num_predict == -2)) return std::nullopt;
  if (num_predict && *num_predict < 1)
    throw ApiError(400, "options.num_predict must be >= 1, -1 or -2", "options.num_predict");
  return num_predict;
}

void parse_stream(const json& body, Job& job) {
  job.stream = get_bool(body, "stream").value_or(true);  // Ollama streams unless told not to
}

}  // namespace

Job parse_ollama_generate(const json& body, const ApiContext& ctx) {
  Job job;
  check_model(body, ctx, job);
  parse_stream(body, job);
  refuse_nonempty(body, "format", "format (structured output) is");
  refuse_nonempty(body, "images", "images are");
  const std::string prompt = get_string(body, "prompt").value_or("");
  const std::string suffix = get_string(body, "suffix").value_or("");
  const auto system = get_string(body, "system");
  const bool raw = get_bool(body, "raw").value_or(false);
  (void)get_string(body, "template");  // type-checked, but the model's own template is used
  const std::optional<int64_t> num_predict = parse_options(body, ctx, job);
  if (prompt.empty() && suffix.empty()) {
    job.load_only = true;  // Ollama answers an empty prompt by loading the model
    return job;
  }
  if (!suffix.empty()) {
    job.request.prompt = fim_prompt(ctx, prompt, suffix);
  } else if (raw) {
    job.request.prompt = text_prompt(ctx, prompt);
  } else {
    json messages = json::array();
    if (system && !system->empty()) messages.push_back({{"role", "system"}, {"content", *system}});
    messages.push_back({{"role", "user"}, {"content", prompt}});
    job.request.prompt = chat_prompt(ctx, messages, "prompt");
  }
  job.request.max_tokens = settle_max_tokens(ctx, job.request.prompt.size(), num_predict,
                                             /*clamp=*/true, "options.num_predict", "prompt");
  return job;
}

Job parse_ollama_chat(const json& body, const ApiContext& ctx) {
  Job job;
  check_model(body, ctx, job);
  parse_stream(body, job);
  refuse_nonempty(body, "format", "format (structured output) is");
  refuse_nonempty(body, "tools", "tools are");
  const std::optional<int64_t> num_predict = parse_options(body, ctx, job);
  const json messages = body.contains("messages") ? body["messages"] : json(nullptr);
  if (messages.is_null() || (messages.is_array() && messages.empty())) {
    job.load_only = true;
    return job;
  }
  if (messages.is_array())
    for (size_t i = 0; i < messages.size(); ++i)
      if (messages[i].is_object()) refuse_nonempty(messages[i], "images", "images are");
  job.request.prompt = chat_prompt(ctx, messages, "messages");
  job.request.max_tokens = settle_max_tokens(ctx, job.request.prompt.size(), num_predict,
                                             /*clamp=*/true, "options.num_predict", "messages");
  return job;
}

}  // namespace dsx::server
