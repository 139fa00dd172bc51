// dsx server: the OpenAI- and Ollama-compatible HTTP API over one model.
//
// Layers: HTTP routes (cpp-httplib, one thread per connection) <-> a per-request Session that
// templates and tokenizes the request, submits it to the engine and receives its token events
// through a thread-safe queue <-> the engine's own thread. Streams (SSE for OpenAI, NDJSON for
// Ollama) are written from the connection thread with httplib's chunked content provider, so a
// client that goes away is noticed at the next write and its request is cancelled.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/engine.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace dsx {

// The part of Engine the server uses. An interface so the HTTP layer can be tested with a
// scripted backend, and so the server never depends on how the engine batches.
class Backend {
 public:
  virtual ~Backend() = default;
  // As Engine::submit: throws Error ("busy: ..." when the queue is full) or returns an id whose
  // events then arrive on `callback`, the last one with finish != None.
  virtual uint64_t submit(GenerationRequest request, TokenCallback callback) = 0;
  virtual void cancel(uint64_t request) = 0;
  virtual EngineStats stats() const = 0;
  virtual int64_t context_size() const = 0;
};

// Adapts a running Engine.
std::shared_ptr<Backend> engine_backend(std::shared_ptr<Engine> engine);

// What /v1/models, /api/tags and /api/show report about the model.
struct ModelInfo {
  std::string name;  // the name clients must use (folder basename or --alias)
  std::string dir;
  ModelConfig config;
  int64_t size_bytes = 0;    // bytes of the weight tensors
  int64_t parameters = 0;    // elements of the weight tensors
  std::string dtype;         // of the largest tensor ("BF16", "F8_E4M3", ...)
  int64_t created_unix = 0;  // modification time of config.json
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;      // 0: any free port (see Server::port())
  std::string api_key;  // empty: no authentication
  size_t max_body_bytes = 8u << 20;
  int http_threads = 0;  // connection threads; 0: enough for --parallel streams
  int max_stop_strings = 16;
};

class Server {
 public:
  Server(std::shared_ptr<Backend> backend, Tokenizer tokenizer, ModelInfo info,
         ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port; throws Error if it cannot. Returns the bound port.
  int bind();
  // Serves until stop(); call bind() first.
  void run();
  // Thread-safe: stops accepting, cancels every request in flight and makes run() return.
  void stop();
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The model's folder name, used as its API name when no alias is given.
std::string model_name_from_dir(const std::string& dir);
// Reads config.json, sizes and dates of a model folder for ModelInfo.
ModelInfo read_model_info(const std::string& dir, const std::string& name);

}  // namespace dsx
