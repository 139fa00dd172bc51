// Session <-> HTTP response: streaming through httplib's chunked provider, or collecting.
#include <random>

#include "server/connection.h"
#include "server/routes.h"

namespace dsx::server {
namespace {

// How long a connection thread waits for the engine before it re-checks the client and the
// server: short enough that a stopping server or a closed socket is noticed quickly.
constexpr std::chrono::milliseconds kPoll{100};
// A write is the only way to learn that a client has gone (httplib's is_writable() only asks
// whether the socket would block), so an SSE stream with nothing to say (a queued request, a
// long prefill) sends a comment line this often; SSE clients ignore comments.
constexpr std::chrono::seconds kKeepAlive{2};

}  // namespace

ApiContext ServerState::api() const {
  ApiContext ctx;
  ctx.tokenizer = &tokenizer;
  ctx.model_name = info.name;
  ctx.context_size = backend->context_size();
  ctx.max_stop_strings = options.max_stop_strings;
  return ctx;
}

std::shared_ptr<Session> ServerState::start(Job job, Clock::time_point received) {
  if (stopping) throw ApiError(503, "the server is shutting down", {}, "server_stopping");
  return std::make_shared<Session>(backend, tokenizer, std::move(job), &metrics, &active, received);
}

std::string ServerState::new_id(const char* prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return std::string(prefix) + buf;
}

void send_json(httplib::Response& res, const json& body, int status) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

void send_json(httplib::Response& res, const ordered_json& body, int status) {
  res.status = status;
  res.set_content(dump(body), "application/json");
}

void stream_session(ServerState& state, const httplib::Request& req, httplib::Response& res,
                    std::shared_ptr<Session> session, const char* content_type, std::string head,
                    std::function<std::string(const Delta&)> format) {
  // httplib would gzip a text/* stream for a client that accepts it, and its compressor holds
  // data back until the end, which defeats streaming. The Request is httplib's own non-const
  // object handed to us as const; dropping the header is how to opt this response out.
  const_cast<httplib::Request&>(req).headers.erase("Accept-Encoding");
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");  // ask proxies not to hold chunks back
  res.set_chunked_content_provider(
      content_type,
      [&state, session, head = std::move(head), format = std::move(format),
       sse = std::string(content_type) == "text/event-stream",
       last_write = Clock::now()](size_t offset, httplib::DataSink& sink) mutable {
        // The head goes out before the first token so the client sees the stream open (and
        // the response headers) while the prompt is still being prefilled.
        if (offset == 0 && !head.empty()) {
          if (!sink.write(head.data(), head.size())) {
            session->cancel();
            return false;
          }
          return true;
        }
        if (state.stopping) session->cancel();
        std::optional<Delta> d = session->next(kPoll);
        if (!d) {
          if (sse && Clock::now() - last_write >= kKeepAlive) {
            static const std::string ping = ": keep-alive\n\n";
            last_write = Clock::now();
            if (!sink.write(ping.data(), ping.size())) {
              session->cancel();
              return false;
            }
          }
          return sink.is_writable();  // nothing yet: keep going while the client is there
        }
        last_write = Clock::now();
        const std::string bytes = format(*d);
        if (!bytes.empty() && !sink.write(bytes.data(), bytes.size())) {
          session->cancel();
          return false;
        }
        if (d->done) sink.done();
        return true;
      },
      // Runs when the response is finished or abandoned; `ok` false means the client is gone
      // or the server is stopping before the end, so free the engine's cache now.
      [session](bool ok) {
        if (!ok) session->cancel();
      });
}

Delta collect(ServerState& state, Session& session, const httplib::Request& req) {
  // Nothing is written until the end, so unlike a stream no failed write reveals a client that
  // hung up, and httplib 0.11 has no other signal for it: watch the socket itself, or the
  // engine would generate (and hold the cache) for nobody until max_tokens.
  const ClientSocket client = ClientSocket::of(req);
  Delta all;
  std::optional<Clock::time_point> stop_seen;
  for (;;) {
    if (state.stopping && !stop_seen) {
      session.cancel();
      stop_seen = Clock::now();
    }
    // Cancelled, the session still ends with a final Delta; collecting on until it arrives
    // keeps the metrics and the cache release on the one path every request takes.
    if (client.closed()) session.cancel();
    std::optional<Delta> d = session.next(kPoll);
    if (!d) {
      // An engine that is itself going away may never confirm the cancel: do not hang on it.
      if (stop_seen && Clock::now() - *stop_seen > std::chrono::seconds(5)) {
        all.done = true;
        all.finish_reason = "error";
        all.error = "the server is shutting down";
        return all;
      }
      continue;
    }
    all.text += d->text;
    all.tokens.insert(all.tokens.end(), d->tokens.begin(), d->tokens.end());
    if (d->done) {
      all.done = true;
      all.finish_reason = d->finish_reason;
      all.error = d->error;
      return all;
    }
  }
}

}  // namespace dsx::server
