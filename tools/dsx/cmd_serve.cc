// dsx serve: the OpenAI- and Ollama-compatible HTTP API over one model (see docs/server.md).
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "commands.h"
#include "engine/engine.h"
#include "server/server.h"
#include "tokenizer/tokenizer.h"

namespace dsx::cli {

namespace {

struct ServeArgs {
  std::string model;
  std::string load = "auto";  // LoadMode (io.h)
  std::string alias;
  std::string host = "127.0.0.1";
  int port = 8080;
  int parallel = 4;
  int64_t ctx_size = 4096;
  int threads = 0;
  int queue = 64;
  std::string api_key;
  size_t max_body = 8u << 20;
};

// SIGINT/SIGTERM are blocked in every thread and taken by this one with sigtimedwait, so the
// shutdown runs as ordinary code (Server::stop is not async-signal-safe) instead of in a handler.
class SignalWatcher {
 public:
  SignalWatcher() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);  // before any other thread starts
    thread_ = std::thread([this] { loop(); });
  }
  ~SignalWatcher() { finish(); }
  // Joins the watcher, so a stop() it is running completes before the server is destroyed.
  void finish() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }
  void attach(Server* server) { server_ = server; }

 private:
  void loop() {
    const timespec tick{0, 200 * 1000 * 1000};
    while (!done_) {
      if (sigtimedwait(&set_, nullptr, &tick) < 0) continue;
      Server* s = server_.load();
      if (!s) std::_Exit(130);  // still loading: nothing to shut down cleanly
      std::fprintf(stderr, "dsx serve: stopping\n");
      s->stop();
      return;
    }
  }

  sigset_t set_;
  std::atomic<bool> done_{false};
  std::atomic<Server*> server_{nullptr};
  std::thread thread_;
};

}  // namespace

Command add_serve(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  app.add_option("-m,--model", args->model, "model folder (config.json, safetensors, tokenizer)")
      ->required();
  app.add_option("--load", args->load,
                 "how weights come into memory: auto (copy when they fit in half the free memory), "
                 "map, copy")
      ->check(CLI::IsMember({"auto", "map", "copy"}));
  app.add_option("--alias", args->alias, "model name in the API (default: the folder's name)");
  app.add_option("--host", args->host, "address to listen on (loopback by default)");
  app.add_option("--port", args->port, "port (0: any free port, printed at startup)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--parallel", args->parallel, "requests decoding at once")
      ->check(CLI::Range(1, 1024));
  app.add_option("-c,--ctx-size", args->ctx_size, "context size per request")
      ->check(CLI::Range(int64_t{16}, int64_t{1} << 24));
  app.add_option("-t,--threads", args->threads, "compute threads (0: all cores)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--queue", args->queue, "requests that may wait beyond --parallel; more get 503")
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--api-key", args->api_key,
                 "require 'Authorization: Bearer KEY' (default: $DSX_API_KEY, else none)");
  app.add_option("--max-body", args->max_body, "largest request body in bytes (else 413)")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30));
  return [args]() {
    if (args->api_key.empty()) {
      if (const char* env = std::getenv("DSX_API_KEY")) args->api_key = env;
    }
    ::signal(SIGPIPE, SIG_IGN);  // a vanished client must be a failed write, not a dead server
    SignalWatcher signals;

    std::shared_ptr<const Model> model = Model::load(args->model, parse_load_mode(args->load));
    Tokenizer tokenizer = Tokenizer::load(args->model);
    ModelInfo info = read_model_info(args->model, args->alias);
    EngineOptions eo;
    eo.threads = args->threads;
    eo.ctx_size = args->ctx_size;
    eo.max_sequences = args->parallel;
    ServingOptions so;
    so.max_running = args->parallel;
    so.max_waiting = args->queue;
    auto engine = std::make_shared<Engine>(model, eo, so);

    ServerOptions options;
    options.host = args->host;
    options.port = args->port;
    options.api_key = args->api_key;
    options.max_body_bytes = args->max_body;
    // A connection thread per streaming client, running or queued, plus room for probes.
    options.http_threads = args->parallel + args->queue / 4 + 8;
    Server server(engine_backend(engine), tokenizer, info, options);
    const int port = server.bind();
    std::fprintf(stderr, "dsx serve: model '%s' (context %lld, %d parallel) on http://%s:%d\n",
                 info.name.c_str(), static_cast<long long>(engine->context_size()), args->parallel,
                 args->host.c_str(), port);
    const bool loopback =
        args->host == "127.0.0.1" || args->host == "::1" || args->host == "localhost";
    if (!loopback && args->api_key.empty())
      std::fprintf(stderr,
                   "dsx serve: warning: listening on %s without --api-key: anyone who can reach "
                   "this address can use the model\n",
                   args->host.c_str());
    std::fflush(stderr);
    signals.attach(&server);
    server.run();
    signals.finish();
    return 0;
  };
}

}  // namespace dsx::cli
