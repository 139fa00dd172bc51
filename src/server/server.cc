// The HTTP server: httplib setup, routing, authentication, and one place that turns exceptions
// into error responses in the caller's API shape, so a bad request never takes the server down.
#include "server/server.h"

#include <set>

#include "server/routes.h"

namespace dsx {

using server::ApiError;
using server::ServerState;

namespace {

bool is_ollama_path(const std::string& path) {
  return path.rfind("/api/", 0) == 0;
}

void write_error(httplib::Response& res, const std::string& path, int status,
                 const std::string& message, const std::string& param = {},
                 const std::string& code = {}) {
  // The OpenAI SDKs retry a 503 after Retry-After seconds; a full queue usually drains soon.
  if (status == 503) res.set_header("Retry-After", "1");
  if (is_ollama_path(path)) {
    server::send_json(res, server::ollama_error_body(message), status);
  } else {
    server::send_json(res, server::openai_error_body(status, message, param, code), status);
  }
}

// Compares without an early exit, so response time does not reveal how much of a key matched.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= a[i] ^ b[i % (b.empty() ? 1 : b.size())];
  return diff == 0 && !b.empty();
}

using RouteFn = void (*)(ServerState&, const httplib::Request&, httplib::Response&);

}  // namespace

struct Server::Impl {
  Impl(std::shared_ptr<Backend> backend, Tokenizer tokenizer, ModelInfo info, ServerOptions options)
      : state(std::move(options), std::move(info), std::move(tokenizer), std::move(backend)) {}

  ServerState state;
  httplib::Server http;
  std::set<std::string> labels;  // fixed paths of the routes, for metric labels
  int port = -1;

  bool authorized(const httplib::Request& req) const {
    const std::string& key = state.options.api_key;
    if (key.empty()) return true;
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.size() <= prefix.size() || auth.compare(0, prefix.size(), prefix) != 0) return false;
    return same_secret(auth.substr(prefix.size()), key);
  }

  httplib::Server::Handler wrap(RouteFn fn, bool needs_auth) {
    return [this, fn, needs_auth](const httplib::Request& req, httplib::Response& res) {
      try {
        if (needs_auth && !authorized(req))
          throw ApiError(401, "invalid or missing API key (send 'Authorization: Bearer KEY')", {},
                         "invalid_api_key");
        fn(state, req, res);
      } catch (const ApiError& e) {
        write_error(res, req.path, e.status, e.what(), e.param, e.code);
      } catch (const Error& e) {
        write_error(res, req.path, 400, e.what());
      } catch (const std::bad_alloc&) {
        write_error(res, req.path, 503, "out of memory", {}, "out_of_memory");
      } catch (const std::exception& e) {
        write_error(res, req.path, 500, std::string("internal error: ") + e.what());
      }
    };
  }

  void get(const std::string& path, RouteFn fn, bool needs_auth = true) {
    labels.insert(path);
    http.Get(path, wrap(fn, needs_auth));
  }
  // POST routes read their own body. httplib's automatic read would refuse any body over 8 KiB
  // sent as application/x-www-form-urlencoded, which is what `curl -d` sends without an explicit
  // Content-Type; reading it here applies only our own size limit, whatever the content type.
  void post(const std::string& path, RouteFn fn, bool needs_auth = true) {
    labels.insert(path);
    httplib::Server::Handler handler = wrap(fn, needs_auth);
    http.Post(path, [handler](const httplib::Request& req, httplib::Response& res,
                              const httplib::ContentReader& reader) {
      std::string body;
      const bool complete = reader([&](const char* data, size_t n) {
        body.append(data, n);
        return true;
      });
      // On failure httplib has set the status (413 over --max-body, 400 for a broken upload)
      // and the error handler writes the body.
      if (!complete) return;
      // Request is httplib's own non-const object, handed to handlers as const.
      const_cast<httplib::Request&>(req).body = std::move(body);
      handler(req, res);
    });
  }

  std::string label(const std::string& path) const {
    if (labels.count(path)) return path;
    if (path.rfind("/v1/models/", 0) == 0) return "/v1/models/{model}";
    return "other";  // unknown paths must not become label values (unbounded cardinality)
  }

  void setup() {
    const ServerOptions& o = state.options;
    const size_t threads = o.http_threads > 0 ? static_cast<size_t>(o.http_threads) : 32;
    // One thread per open connection: enough for every streaming client plus a few probes;
    // more connections wait in httplib's queue rather than failing.
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.set_payload_max_length(o.max_body_bytes);
    http.set_keep_alive_max_count(1000);
    http.set_read_timeout(30);
    http.set_write_timeout(30);

    post("/v1/chat/completions", server::openai_chat);
    post("/v1/completions", server::openai_completion);
    get("/v1/models", server::openai_models);
    http.Get(R"(/v1/models/(.+))", wrap(server::openai_model, true));
    post("/api/generate", server::ollama_generate);
    post("/api/chat", server::ollama_chat);
    get("/api/tags", server::ollama_tags);
    post("/api/show", server::ollama_show);
    get("/api/ps", server::ollama_ps);
    get("/api/version", server::ollama_version, /*needs_auth=*/false);
    get("/health", server::health, /*needs_auth=*/false);
    get("/metrics", server::metrics);
    get("/", server::root, /*needs_auth=*/false);

    // Responses httplib makes itself (404 no route, 413 body too large, 400 unparsable HTTP)
    // come here with an empty body; routes' own errors already have one.
    http.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& req, httplib::Response& res) {
          if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
          std::string msg;
          std::string code;
          if (res.status == 404) {
            msg = "no route for " + req.method + " " + req.path;
            code = "not_found";
          } else if (res.status == 413) {
            msg = "request body is larger than " + std::to_string(state.options.max_body_bytes) +
                  " bytes";
            code = "request_too_large";
          } else {
            msg = res.status == 400 ? "malformed HTTP request"
                                    : "HTTP error " + std::to_string(res.status);
          }
          write_error(res, req.path, res.status, msg, {}, code);
          return httplib::Server::HandlerResponse::Handled;
        }));
    http.set_exception_handler(
        [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
          std::string msg = "internal error";
          try {
            if (ep) std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            msg += std::string(": ") + e.what();
          } catch (...) {
          }
          write_error(res, req.path, 500, msg);
        });
    http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      state.metrics.request(label(req.path), res.status);
    });
  }
};

Server::Server(std::shared_ptr<Backend> backend, Tokenizer tokenizer, ModelInfo info,
               ServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(backend), std::move(tokenizer), std::move(info),
                                   std::move(options))) {
  impl_->setup();
}

Server::~Server() {
  stop();
}

int Server::bind() {
  const ServerOptions& o = impl_->state.options;
  int port = o.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(o.host);
  } else if (!impl_->http.bind_to_port(o.host, port)) {
    port = -1;
  }
  if (port < 0)
    throw Error("serve: cannot listen on " + o.host + ":" + std::to_string(o.port) +
                " (address in use or not available)");
  impl_->port = port;
  return port;
}

void Server::run() {
  impl_->http.listen_after_bind();
}

void Server::stop() {
  impl_->state.stopping = true;
  for (uint64_t id : impl_->state.active.all()) impl_->state.backend->cancel(id);
  impl_->http.stop();
}

int Server::port() const {
  return impl_->port;
}

}  // namespace dsx
