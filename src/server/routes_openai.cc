// OpenAI routes: /v1/chat/completions, /v1/completions, /v1/models. Responses follow the API
// reference field for field, so the official SDKs parse them (streams end with data: [DONE]).
#include <chrono>

#include "server/framing.h"
#include "server/routes.h"

namespace dsx::server {
namespace {

using oj = ordered_json;

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

oj usage(const Session& s) {
  return {{"prompt_tokens", s.prompt_tokens()},
          {"completion_tokens", s.completion_tokens()},
          {"total_tokens", s.prompt_tokens() + s.completion_tokens()}};
}

oj bytes_of(const std::string& text) {
  oj out = oj::array();
  for (unsigned char c : text) out.push_back(static_cast<int>(c));
  return out;
}

oj chat_logprobs(const Tokenizer& tok, const std::vector<TokenOut>& tokens) {
  oj content = oj::array();
  for (const TokenOut& t : tokens) content.push_back(chat_logprob(tok, t));
  return {{"content", std::move(content)}, {"refusal", nullptr}};
}

// The legacy completions shape: parallel arrays, offsets into the returned text.
oj legacy_logprobs(const Tokenizer& tok, const std::vector<TokenOut>& tokens, int top,
                   int64_t& text_offset) {
  oj out = {{"tokens", oj::array()},
            {"token_logprobs", oj::array()},
            {"top_logprobs", oj::array()},
            {"text_offset", oj::array()}};
  for (const TokenOut& t : tokens) {
    const std::string text = tok.token_bytes(t.id);
    out["tokens"].push_back(text);
    out["token_logprobs"].push_back(t.logprob);
    oj alts = oj::object();
    for (int i = 0; i < top && i < static_cast<int>(t.top.size()); ++i)
      alts[tok.token_bytes(t.top[i].token)] = t.top[i].logprob;
    out["top_logprobs"].push_back(std::move(alts));
    out["text_offset"].push_back(text_offset);
    text_offset += static_cast<int64_t>(text.size());
  }
  return out;
}

void check_done(const Delta& d) {
  if (d.finish_reason == "error") throw ApiError(500, d.error, {}, "generation_failed");
}

}  // namespace

ordered_json chat_logprob(const Tokenizer& tok, const TokenOut& t) {
  const std::string text = tok.token_bytes(t.id);
  oj top = oj::array();
  for (const TokenLogprob& alt : t.top) {
    const std::string alt_text = tok.token_bytes(alt.token);
    top.push_back({{"token", alt_text}, {"logprob", alt.logprob}, {"bytes", bytes_of(alt_text)}});
  }
  return {{"token", text},
          {"logprob", t.logprob},
          {"bytes", bytes_of(text)},
          {"top_logprobs", std::move(top)}};
}

void openai_chat(ServerState& s, const httplib::Request& req, httplib::Response& res) {
  const Clock::time_point received = Clock::now();
  Job job = parse_openai_chat(parse_body(req.body), s.api());
  const std::string id = s.new_id("chatcmpl-");
  const int64_t created = unix_now();
  const std::string model = job.model;
  std::shared_ptr<Session> session = s.start(std::move(job), received);
  const Tokenizer& tok = s.tokenizer;
  const bool logprobs = session->job().chat_logprobs;

  if (!session->job().stream) {
    const Delta all = collect(s, *session, req);
    check_done(all);
    oj choice = {{"index", 0},
                 {"message", {{"role", "assistant"}, {"content", all.text}, {"refusal", nullptr}}},
                 {"logprobs", logprobs ? chat_logprobs(tok, all.tokens) : oj(nullptr)},
                 {"finish_reason", all.finish_reason}};
    send_json(res, oj{{"id", id},
                      {"object", "chat.completion"},
                      {"created", created},
                      {"model", model},
                      {"choices", oj::array({std::move(choice)})},
                      {"usage", usage(*session)},
                      {"system_fingerprint", "dsx"}});
    return;
  }

  const bool include_usage = session->job().include_usage;
  Session* raw = session.get();  // the provider that calls format owns the session
  auto chunk = [=](oj delta, oj lp, oj finish) {
    oj c = {{"id", id},
            {"object", "chat.completion.chunk"},
            {"created", created},
            {"model", model},
            {"system_fingerprint", "dsx"},
            {"choices", oj::array({oj{{"index", 0},
                                      {"delta", std::move(delta)},
                                      {"logprobs", std::move(lp)},
                                      {"finish_reason", std::move(finish)}}})}};
    // With include_usage every chunk carries "usage": null and one last chunk the totals.
    if (include_usage) c["usage"] = nullptr;
    return sse_event(c);
  };
  const std::string head = chunk({{"role", "assistant"}, {"content", ""}}, nullptr, nullptr);
  stream_session(s, req, res, session, "text/event-stream", head, [=, &tok](const Delta& d) {
    std::string out;
    if (!d.text.empty() || !d.tokens.empty())
      out += chunk({{"content", d.text}}, logprobs ? chat_logprobs(tok, d.tokens) : oj(nullptr),
                   nullptr);
    if (!d.done) return out;
    if (d.finish_reason == "error") {
      out += sse_event(openai_error_body(500, d.error, {}, "generation_failed"));
    } else {
      out += chunk(oj::object(), nullptr, d.finish_reason);
      if (include_usage) {
        out += sse_event(oj{{"id", id},
                            {"object", "chat.completion.chunk"},
                            {"created", created},
                            {"model", model},
                            {"system_fingerprint", "dsx"},
                            {"choices", oj::array()},
                            {"usage", usage(*raw)}});
      }
    }
    return out + sse_done();
  });
}

void openai_completion(ServerState& s, const httplib::Request& req, httplib::Response& res) {
  const Clock::time_point received = Clock::now();
  Job job = parse_openai_completion(parse_body(req.body), s.api());
  const std::string id = s.new_id("cmpl-");
  const int64_t created = unix_now();
  const std::string model = job.model;
  std::shared_ptr<Session> session = s.start(std::move(job), received);
  const Tokenizer& tok = s.tokenizer;
  const int top = session->job().legacy_logprobs;
  const std::string echo = session->job().echo;

  if (!session->job().stream) {
    const Delta all = collect(s, *session, req);
    check_done(all);
    int64_t offset = static_cast<int64_t>(echo.size());
    oj choice = {
        {"text", echo + all.text},
        {"index", 0},
        {"logprobs", top >= 0 ? legacy_logprobs(tok, all.tokens, top, offset) : oj(nullptr)},
        {"finish_reason", all.finish_reason}};
    send_json(res, oj{{"id", id},
                      {"object", "text_completion"},
                      {"created", created},
                      {"model", model},
                      {"choices", oj::array({std::move(choice)})},
                      {"usage", usage(*session)},
                      {"system_fingerprint", "dsx"}});
    return;
  }

  const bool include_usage = session->job().include_usage;
  Session* raw = session.get();
  auto chunk = [=](const std::string& text, oj lp, oj finish) {
    oj c = {{"id", id},
            {"object", "text_completion"},
            {"created", created},
            {"model", model},
            {"system_fingerprint", "dsx"},
            {"choices", oj::array({oj{{"text", text},
                                      {"index", 0},
                                      {"logprobs", std::move(lp)},
                                      {"finish_reason", std::move(finish)}}})}};
    if (include_usage) c["usage"] = nullptr;
    return sse_event(c);
  };
  const std::string head = echo.empty() ? std::string() : chunk(echo, nullptr, nullptr);
  auto offset = std::make_shared<int64_t>(static_cast<int64_t>(echo.size()));
  stream_session(s, req, res, session, "text/event-stream", head, [=, &tok](const Delta& d) {
    std::string out;
    if (!d.text.empty() || !d.tokens.empty())
      out += chunk(d.text, top >= 0 ? legacy_logprobs(tok, d.tokens, top, *offset) : oj(nullptr),
                   nullptr);
    if (!d.done) return out;
    if (d.finish_reason == "error") {
      out += sse_event(openai_error_body(500, d.error, {}, "generation_failed"));
    } else {
      out += chunk("", nullptr, d.finish_reason);
      if (include_usage) {
        out += sse_event(oj{{"id", id},
                            {"object", "text_completion"},
                            {"created", created},
                            {"model", model},
                            {"system_fingerprint", "dsx"},
                            {"choices", oj::array()},
                            {"usage", usage(*raw)}});
      }
    }
    return out + sse_done();
  });
}

void openai_models(ServerState& s, const httplib::Request&, httplib::Response& res) {
  oj model = {{"id", s.info.name},
              {"object", "model"},
              {"created", s.info.created_unix},
              {"owned_by", "dsx"}};
  send_json(res, oj{{"object", "list"}, {"data", oj::array({std::move(model)})}});
}

void openai_model(ServerState& s, const httplib::Request& req, httplib::Response& res) {
  const std::string name = req.matches.size() > 1 ? std::string(req.matches[1]) : std::string();
  if (!model_matches(name, s.info.name))
    throw ApiError(404, "the model '" + name + "' does not exist", "model", "model_not_found");
  send_json(res, oj{{"id", s.info.name},
                    {"object", "model"},
                    {"created", s.info.created_unix},
                    {"owned_by", "dsx"}});
}

}  // namespace dsx::server
