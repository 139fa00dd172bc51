// The state the routes share and the route handlers themselves. Handlers throw ApiError for
// anything the client should see as an HTTP error; server.cc turns it into the right shape.
#pragma once

#include <httplib.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "server/api.h"
#include "server/metrics.h"
#include "server/server.h"
#include "server/session.h"

namespace dsx::server {

struct ServerState {
  ServerState(ServerOptions o, ModelInfo i, Tokenizer t, std::shared_ptr<Backend> b)
      : options(std::move(o)), info(std::move(i)), tokenizer(std::move(t)), backend(std::move(b)) {}

  ServerOptions options;
  ModelInfo info;
  Tokenizer tokenizer;
  std::shared_ptr<Backend> backend;
  Metrics metrics;
  ActiveRequests active;
  std::atomic<bool> stopping{false};

  ApiContext api() const;
  // Starts a session for a parsed job (submits it to the engine).
  std::shared_ptr<Session> start(Job job, Clock::time_point received);
  // A fresh response id with the given prefix ("chatcmpl-", "cmpl-").
  std::string new_id(const char* prefix);
};

// Streams a session through `format` with httplib's chunked content provider: `head` first (may
// be empty), then `format` applied to every Delta. `format` turns
// each Delta into bytes (the done Delta must yield the stream's tail). A failed write means the
// client left: the request is cancelled so the engine frees its cache.
void stream_session(ServerState& state, const httplib::Request& req, httplib::Response& res,
                    std::shared_ptr<Session> session, const char* content_type, std::string head,
                    std::function<std::string(const Delta&)> format);

// Waits for a whole generation (non-streaming responses): concatenated text and tokens, and the
// final reason / error in the returned Delta. A client that closes `req`'s connection meanwhile
// has the session cancelled, so the engine frees its cache at once.
Delta collect(ServerState& state, Session& session, const httplib::Request& req);

// Writes a JSON body (errors replaced, see dump()).
void send_json(httplib::Response& res, const json& body, int status = 200);
void send_json(httplib::Response& res, const ordered_json& body, int status = 200);

// OpenAI (routes_openai.cc).
void openai_chat(ServerState& s, const httplib::Request& req, httplib::Response& res);
void openai_completion(ServerState& s, const httplib::Request& req, httplib::Response& res);
void openai_models(ServerState& s, const httplib::Request& req, httplib::Response& res);
void openai_model(ServerState& s, const httplib::Request& req, httplib::Response& res);

// Ollama (routes_ollama.cc).
void ollama_generate(ServerState& s, const httplib::Request& req, httplib::Response& res);
void ollama_chat(ServerState& s, const httplib::Request& req, httplib::Response& res);
void ollama_tags(ServerState& s, const httplib::Request& req, httplib::Response& res);
void ollama_show(ServerState& s, const httplib::Request& req, httplib::Response& res);
void ollama_ps(ServerState& s, const httplib::Request& req, httplib::Response& res);
void ollama_version(ServerState& s, const httplib::Request& req, httplib::Response& res);

// Health, metrics, "/" (routes_misc.cc).
void health(ServerState& s, const httplib::Request& req, httplib::Response& res);
void metrics(ServerState& s, const httplib::Request& req, httplib::Response& res);
void root(ServerState& s, const httplib::Request& req, httplib::Response& res);

// The OpenAI logprob entries of one token ({"token","logprob","bytes","top_logprobs"}).
ordered_json chat_logprob(const Tokenizer& tok, const TokenOut& t);

}  // namespace dsx::server
