// Ollama routes: /api/generate, /api/chat, /api/tags, /api/show, /api/ps, /api/version.
// Streams are NDJSON, one object a line, ending with done: true and Ollama's timing fields in
// nanoseconds.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>

#include "server/framing.h"
#include "server/routes.h"

namespace dsx::server {
namespace {

using oj = ordered_json;

// The Ollama API release whose endpoints and fields this server follows.
constexpr const char* kOllamaApiVersion = "0.5.0";

int64_t ns(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

// The fields of the last object of a response.
void add_done_fields(oj& o, const Session& s, const std::string& reason) {
  const Timings& t = s.timings();
  o["done_reason"] = reason;
  o["total_duration"] = ns(t.finished - t.received);
  o["load_duration"] =
      ns(t.submitted - t.received);  // templating and tokenizing; weights are resident
  o["prompt_eval_count"] = s.prompt_tokens();
  o["prompt_eval_duration"] = ns(t.first_token - t.submitted);
  o["eval_count"] = s.completion_tokens();
  o["eval_duration"] = ns(t.last_token - t.first_token);
}

std::string parameter_size(int64_t n) {
  char buf[32];
  if (n >= 1000000000)
    std::snprintf(buf, sizeof buf, "%.1fB", n / 1e9);
  else if (n >= 1000000)
    std::snprintf(buf, sizeof buf, "%.1fM", n / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.1fK", n / 1e3);
  return buf;
}

std::string rfc3339(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

oj details(const ModelInfo& info) {
  return {{"parent_model", ""},
          {"format", "safetensors"},
          {"family", info.config.model_type},
          {"families", oj::array({info.config.model_type})},
          {"parameter_size", parameter_size(info.parameters)},
          {"quantization_level", info.dtype}};
}

// Not a content hash (that would mean reading every weight): a stable id for the folder's
// name, size and date, in the form Ollama clients expect.
std::string digest(const ModelInfo& info) {
  const unsigned long long h = std::hash<std::string>{}(
      info.dir + "|" + std::to_string(info.size_bytes) + "|" + std::to_string(info.created_unix));
  char buf[80];
  std::snprintf(buf, sizeof buf, "%016llx%016llx%016llx%016llx", h, h ^ 0x9e3779b97f4a7c15ull,
                h * 31, ~h);
  return buf;
}

std::string tagged(const std::string& name) {
  return name.find(':') == std::string::npos ? name + ":latest" : name;
}

void check_done(const Delta& d) {
  if (d.finish_reason == "error") throw ApiError(500, d.error, {}, "generation_failed");
}

// Shared by generate and chat: they differ in how the text travels (response vs message).
void run(ServerState& s, const httplib::Request& req, httplib::Response& res, Job job,
         Clock::time_point received, std::function<void(oj&, const std::string&)> put_text) {
  const std::string model = job.model;
  if (job.load_only) {
    oj o = {{"model", model}, {"created_at", rfc3339_now()}};
    put_text(o, "");
    o["done"] = true;
    o["done_reason"] = "load";
    send_json(res, o);
    return;
  }
  std::shared_ptr<Session> session = s.start(std::move(job), received);
  if (!session->job().stream) {
    const Delta all = collect(s, *session, req);
    check_done(all);
    oj o = {{"model", model}, {"created_at", rfc3339_now()}};
    put_text(o, all.text);
    o["done"] = true;
    add_done_fields(o, *session, all.finish_reason);
    send_json(res, o);
    return;
  }
  Session* raw = session.get();  // owned by the provider that calls the formatter
  stream_session(s, req, res, session, "application/x-ndjson", {}, [=](const Delta& d) {
    std::string out;
    if (!d.text.empty()) {
      oj o = {{"model", model}, {"created_at", rfc3339_now()}};
      put_text(o, d.text);
      o["done"] = false;
      out += ndjson_line(o);
    }
    if (!d.done) return out;
    if (d.finish_reason == "error") return out + ndjson_line(ollama_error_body(d.error));
    oj o = {{"model", model}, {"created_at", rfc3339_now()}};
    put_text(o, "");
    o["done"] = true;
    add_done_fields(o, *raw, d.finish_reason);
    return out + ndjson_line(o);
  });
}

}  // namespace

void ollama_generate(ServerState& s, const httplib::Request& req, httplib::Response& res) {
  const Clock::time_point received = Clock::now();
  Job job = parse_ollama_generate(parse_body(req.body), s.api());
  run(s, req, res, std::move(job), received,
      [](oj& o, const std::string& text) { o["response"] = text; });
}

void ollama_chat(ServerState& s, const httplib::Request& req, httplib::Response& res) {
  const Clock::time_point received = Clock::now();
  Job job = parse_ollama_chat(parse_body(req.body), s.api());
  run(s, req, res, std::move(job), received, [](oj& o, const std::string& text) {
    o["message"] = {{"role", "assistant"}, {"content", text}};
  });
}

void ollama_tags(ServerState& s, const httplib::Request&, httplib::Response& res) {
  const ModelInfo& info = s.info;
  oj m = {{"name", tagged(info.name)},
          {"model", tagged(info.name)},
          {"modified_at", rfc3339(info.created_unix)},
          {"size", info.size_bytes},
          {"digest", digest(info)},
          {"details", details(info)}};
  send_json(res, oj{{"models", oj::array({std::move(m)})}});
}

void ollama_ps(ServerState& s, const httplib::Request&, httplib::Response& res) {
  const ModelInfo& info = s.info;
  oj m = {{"name", tagged(info.name)},
          {"model", tagged(info.name)},
          {"size", info.size_bytes},
          {"digest", digest(info)},
          {"details", details(info)},
          {"expires_at", "2318-01-01T00:00:00Z"},  // resident for the server's lifetime
          {"size_vram", 0}};
  send_json(res, oj{{"models", oj::array({std::move(m)})}});
}

void ollama_show(ServerState& s, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  // "name" is the field's pre-0.4 spelling, still sent by older clients.
  std::optional<std::string> name = get_string(body, "model");
  if (!name) name = get_string(body, "name");
  if (!name || name->empty()) throw ApiError(400, "model is required", "model");
  if (!model_matches(*name, s.info.name))
    throw ApiError(404, "model '" + *name + "' not found", "model", "model_not_found");
  const ModelInfo& info = s.info;
  const ModelConfig& c = info.config;
  const std::string arch = c.model_type;
  oj model_info = {{"general.architecture", arch},
                   {"general.parameter_count", info.parameters},
                   {arch + ".context_length", c.max_position_embeddings},
                   {arch + ".embedding_length", c.hidden_size},
                   {arch + ".block_count", c.num_hidden_layers},
                   {arch + ".attention.head_count", c.num_attention_heads},
                   {arch + ".attention.kv_lora_rank", c.kv_lora_rank},
                   {arch + ".expert_count", c.n_routed_experts},
                   {arch + ".expert_used_count", c.num_experts_per_tok},
                   {arch + ".vocab_size", c.vocab_size}};
  oj capabilities = oj::array({"completion"});
  if (s.tokenizer.find_token("<｜fim▁hole｜>")) capabilities.push_back("insert");
  send_json(res, oj{{"license", ""},
                    {"modelfile", "# served by dsx\nFROM " + info.dir + "\n"},
                    {"parameters", ""},
                    {"template", s.tokenizer.chat_template()},
                    {"details", details(info)},
                    {"model_info", std::move(model_info)},
                    {"capabilities", std::move(capabilities)},
                    {"modified_at", rfc3339(info.created_unix)}});
}

void ollama_version(ServerState&, const httplib::Request&, httplib::Response& res) {
  send_json(res, oj{{"version", kOllamaApiVersion}});
}

}  // namespace dsx::server
