// Session: engine events -> text deltas (detokenize, stop strings, usage, latency metrics).
#include "server/session.h"

#include <algorithm>

namespace dsx::server {

void EventQueue::push(const TokenEvent& e) {
  const Clock::time_point now = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back({e, now});
  }
  ready_.notify_one();
}

std::optional<EventQueue::Item> EventQueue::pop(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!ready_.wait_until(lock, deadline, [&] { return !events_.empty(); })) return std::nullopt;
  Item item = std::move(events_.front());
  events_.pop_front();
  return item;
}

std::optional<EventQueue::Item> EventQueue::try_pop() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (events_.empty()) return std::nullopt;
  Item item = std::move(events_.front());
  events_.pop_front();
  return item;
}

void ActiveRequests::add(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  ids_.insert(id);
}

void ActiveRequests::remove(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  ids_.erase(id);
}

std::vector<uint64_t> ActiveRequests::all() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {ids_.begin(), ids_.end()};
}

Session::Session(std::shared_ptr<Backend> backend, const Tokenizer& tokenizer, Job job,
                 Metrics* metrics, ActiveRequests* active, Clock::time_point received)
    : backend_(std::move(backend)),
      job_(std::move(job)),
      metrics_(metrics),
      active_(active),
      // Special tokens (EOS, FIM markers) are control, not text a client should see.
      decoder_(tokenizer, /*skip_special=*/true),
      stop_(job_.stops) {
  timings_.received = received;
  timings_.submitted = Clock::now();
  std::shared_ptr<EventQueue> queue = queue_;
  try {
    id_ = backend_->submit(job_.request, [queue](const TokenEvent& e) { queue->push(e); });
  } catch (const Error& e) {
    const std::string msg = e.what();
    if (msg.rfind("busy", 0) == 0)
      throw ApiError(503, "the server is busy, try again later (" + msg + ")", {}, "server_busy");
    throw ApiError(400, msg);
  }
  timings_.first_token = timings_.last_token = timings_.submitted;
  if (active_) active_->add(id_);
  if (metrics_) metrics_->session_started();
}

Session::~Session() {
  if (!done_) cancel();
  if (active_) active_->remove(id_);
  if (metrics_) {
    // Counted here, once, so requests cut short by their client count what they consumed.
    metrics_->tokens(prompt_tokens(), completion_tokens_);
    metrics_->session_ended();
  }
}

void Session::cancel() {
  if (cancelled_ || done_) return;
  cancelled_ = true;
  backend_->cancel(id_);
}

void Session::finish(Delta& d, const std::string& reason, const std::string& error) {
  done_ = true;
  final_reason_ = reason;
  timings_.finished = Clock::now();
  d.done = true;
  d.finish_reason = reason;
  d.error = error;
  if (metrics_) {
    if (completion_tokens_ > 1) {
      const double span =
          std::chrono::duration<double>(timings_.last_token - timings_.first_token).count();
      metrics_->time_per_output_token(span / static_cast<double>(completion_tokens_ - 1));
    }
  }
}

bool Session::apply(const EventQueue::Item& item, Delta& d) {
  const TokenEvent& e = item.event;
  if (e.token >= 0) {
    const Clock::time_point now = item.at;
    if (completion_tokens_ == 0) {
      timings_.first_token = now;
      if (metrics_)
        metrics_->time_to_first_token(
            std::chrono::duration<double>(now - timings_.received).count());
    }
    timings_.last_token = now;
    ++completion_tokens_;
    if (job_.request.top_logprobs >= 0) d.tokens.push_back({e.token, e.logprob, e.top});
    const auto& stops = job_.request.stop_tokens;
    // A stop token (EOS) ends the text; it is counted but never shown.
    if (std::find(stops.begin(), stops.end(), e.token) == stops.end()) {
      const StopMatcher::Result r = stop_.feed(decoder_.feed(e.token));
      d.text += r.emit;
      if (r.stopped) {
        // The engine may already be computing more tokens; they are not ours any more.
        cancel();
        finish(d, "stop");
        return true;
      }
    }
  }
  if (e.finish == FinishReason::None) return false;
  const StopMatcher::Result r = stop_.feed(decoder_.flush());
  d.text += r.emit;
  if (r.stopped) {
    finish(d, "stop");
    return true;
  }
  d.text += stop_.flush();
  switch (e.finish) {
    case FinishReason::Stop:
      finish(d, "stop");
      break;
    case FinishReason::Length:
      finish(d, "length");
      break;
    case FinishReason::Cancelled:
      finish(d, "cancelled");
      break;
    default:
      finish(d, "error", e.error.empty() ? "generation failed" : e.error);
      break;
  }
  return true;
}

std::optional<Delta> Session::next(std::chrono::milliseconds timeout) {
  if (done_) {
    Delta d;
    d.done = true;
    d.finish_reason = final_reason_;
    return d;
  }
  const Clock::time_point deadline = Clock::now() + timeout;
  Delta d;
  for (;;) {
    // Block for the first event, then take whatever else is already queued: a client that
    // reads slower than the engine generates gets fewer, larger chunks.
    std::optional<EventQueue::Item> e = queue_->pop(deadline);
    if (!e) return std::nullopt;
    if (apply(*e, d)) return d;
    while ((e = queue_->try_pop()))
      if (apply(*e, d)) return d;
    // Held-back text (a partial character or a possible stop string) alone is not worth a
    // chunk; tokens with logprobs are, since the client asked to see every one.
    if (!d.text.empty() || !d.tokens.empty()) return d;
  }
}

}  // namespace dsx::server
