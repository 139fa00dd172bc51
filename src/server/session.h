// One generation as the HTTP layer sees it. The engine thread pushes token events into a
// thread-safe queue; the connection thread pops them, turns tokens into text (StreamDecoder keeps
// UTF-8 whole, StopMatcher cuts stop strings) and hands out Deltas to format and write.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "server/api.h"
#include "server/metrics.h"
#include "server/server.h"

namespace dsx::server {

using Clock = std::chrono::steady_clock;

// Engine thread -> connection thread. Shared by the engine callback and the Session, so events
// that arrive after the Session is gone land in a queue nobody reads instead of freed memory.
class EventQueue {
 public:
  // An event and when the engine delivered it (latency metrics should not include the time a
  // slow client takes to read).
  struct Item {
    TokenEvent event;
    Clock::time_point at;
  };
  void push(const TokenEvent& e);
  // Waits until `deadline` for an event; nullopt on timeout.
  std::optional<Item> pop(Clock::time_point deadline);
  // Pops without waiting.
  std::optional<Item> try_pop();

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Item> events_;
};

// Request ids in flight, so a stopping server can cancel them all.
class ActiveRequests {
 public:
  void add(uint64_t id);
  void remove(uint64_t id);
  std::vector<uint64_t> all() const;

 private:
  mutable std::mutex mutex_;
  std::set<uint64_t> ids_;
};

struct TokenOut {
  int32_t id = -1;
  float logprob = 0.0f;
  std::vector<TokenLogprob> top;
};

// Output ready to send: text safe to show, the tokens it came from, and the end when done.
struct Delta {
  std::string text;
  std::vector<TokenOut> tokens;
  bool done = false;
  std::string finish_reason;  // when done: "stop", "length", "cancelled" or "error"
  std::string error;          // when finish_reason == "error"
};

struct Timings {
  Clock::time_point received;  // request arrival (before templating)
  Clock::time_point submitted;
  Clock::time_point first_token;  // == submitted until a token comes
  Clock::time_point last_token;
  Clock::time_point finished;
};

class Session {
 public:
  // Submits the job. Throws ApiError: 503 when the engine queue is full, 400 when the engine
  // refuses the request.
  Session(std::shared_ptr<Backend> backend, const Tokenizer& tokenizer, Job job, Metrics* metrics,
          ActiveRequests* active, Clock::time_point received = Clock::now());
  ~Session();  // cancels the request if it has not finished
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Everything that is ready, waiting up to `timeout` for something: nullopt if nothing came.
  // Consecutive events are merged into one Delta. After a Delta with done, returns done again.
  std::optional<Delta> next(std::chrono::milliseconds timeout);
  // The client went away: stop the request (idempotent).
  void cancel();

  const Job& job() const { return job_; }
  bool done() const { return done_; }
  int64_t prompt_tokens() const { return static_cast<int64_t>(job_.request.prompt.size()); }
  int64_t completion_tokens() const { return completion_tokens_; }
  const Timings& timings() const { return timings_; }

 private:
  // Folds one event into `d`; returns true when the request is over.
  bool apply(const EventQueue::Item& item, Delta& d);
  void finish(Delta& d, const std::string& reason, const std::string& error = {});

  std::shared_ptr<Backend> backend_;
  Job job_;
  Metrics* metrics_;
  ActiveRequests* active_;
  std::shared_ptr<EventQueue> queue_ = std::make_shared<EventQueue>();
  StreamDecoder decoder_;
  StopMatcher stop_;
  uint64_t id_ = 0;
  bool done_ = false;
  bool cancelled_ = false;
  std::string final_reason_;
  int64_t completion_tokens_ = 0;
  Timings timings_;
};

}  // namespace dsx::server
