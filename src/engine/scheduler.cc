// The continuous-batching engine: one thread owns the model, the latent cache and the running
// batch; other threads only submit and cancel through a mutex-guarded inbox.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "engine/engine.h"

namespace dsx {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::Stop:
      return "stop";
    case FinishReason::Length:
      return "length";
    case FinishReason::Cancelled:
      return "cancelled";
    case FinishReason::Error:
      return "error";
    default:
      return "none";
  }
}

namespace {

// A request in flight, owned by the engine thread once admitted.
struct Sequence {
  uint64_t id = 0;
  GenerationRequest request;
  TokenCallback callback;
  Sampler sampler;
  std::vector<int32_t> context;    // prompt + generated tokens, the sampler's penalty window
  std::vector<int32_t> generated;  // generated tokens
  int64_t cached = 0;              // positions of `context` already in the cache
  int32_t seq = -1;                // cache sequence id while admitted

  Sequence(uint64_t id_, GenerationRequest r, TokenCallback cb)
      : id(id_),
        request(std::move(r)),
        callback(std::move(cb)),
        sampler(request.sampling),
        context(request.prompt) {}
  // Tokens still to feed before the next sample: the unprocessed part of context.
  int64_t pending() const { return static_cast<int64_t>(context.size()) - cached; }
};

}  // namespace

struct Engine::Impl {
  std::shared_ptr<const Model> model;
  EngineOptions options;
  ServingOptions serving;
  ThreadPool pool;
  LatentCache cache;

  mutable std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::unique_ptr<Sequence>> waiting;  // guarded by mutex
  std::unordered_set<uint64_t> cancels;           // guarded by mutex
  uint64_t next_id = 1;                           // guarded by mutex
  bool stop = false;                              // guarded by mutex
  EngineStats stats;                              // guarded by mutex

  std::vector<std::unique_ptr<Sequence>> running;  // engine thread only
  ForwardOutput out;
  std::thread thread;

  Impl(std::shared_ptr<const Model> m, const EngineOptions& o, const ServingOptions& s)
      : model(std::move(m)),
        options(o),
        serving(s),
        pool(o.threads),
        cache(make_cache(*model, o, s.max_running, 2)) {}  // a context of 2 holds a prompt + 1

  // Frees a sequence's cache and publishes the new gauges, before its final event goes out, so a
  // client that sees the end also sees the cache freed.
  void release(Sequence& s) {
    if (s.seq >= 0) cache.remove_sequence(s.seq);
    s.seq = -1;
    std::lock_guard<std::mutex> lock(mutex);
    publish_gauges();
  }

  void finish(Sequence& s, FinishReason reason, const std::string& error = {}) {
    release(s);
    TokenEvent e;
    e.request = s.id;
    e.finish = reason;
    e.error = error;
    e.prompt_tokens = static_cast<int64_t>(s.request.prompt.size());
    e.generated_tokens = static_cast<int64_t>(s.generated.size());
    s.callback(e);
  }

  // Copies what other threads may read into stats (call with mutex held).
  void publish_gauges() {
    stats.running = static_cast<int64_t>(running.size());
    stats.kv_blocks_used = cache.used_blocks();
    stats.kv_blocks_total = cache.num_blocks();
  }

  // Takes the inbox: cancellations. Returns false when the engine is stopping.
  bool drain_inbox(std::vector<std::unique_ptr<Sequence>>& cancelled) {
    std::unique_lock<std::mutex> lock(mutex);
    wake.wait(lock,
              [&] { return stop || !running.empty() || !waiting.empty() || !cancels.empty(); });
    if (stop) return false;
    for (auto it = waiting.begin(); it != waiting.end();) {
      if (cancels.erase((*it)->id)) {
        cancelled.push_back(std::move(*it));
        it = waiting.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& s : running) {
      if (s && cancels.erase(s->id)) cancelled.push_back(std::move(s));
    }
    running.erase(std::remove(running.begin(), running.end(), nullptr), running.end());
    cancels.clear();  // ids that already finished
    // Admit waiting requests while there is room in the batch and the cache.
    while (!waiting.empty() && static_cast<int64_t>(running.size()) < serving.max_running) {
      Sequence& s = *waiting.front();
      const int32_t seq = cache.add_sequence();
      if (!cache.reserve(seq, static_cast<int64_t>(s.context.size()) + 1)) {
        cache.remove_sequence(seq);
        break;  // wait for blocks to come back
      }
      s.seq = seq;
      s.cached = 0;
      running.push_back(std::move(waiting.front()));
      waiting.pop_front();
    }
    publish_gauges();
    return true;
  }

  // Sends the newest running sequence back to the queue (it is recomputed when readmitted).
  void preempt_last() {
    Sequence& v = *running.back();
    cache.remove_sequence(v.seq);
    v.seq = -1;
    v.cached = 0;
    std::lock_guard<std::mutex> lock(mutex);
    waiting.push_front(std::move(running.back()));
    running.pop_back();
  }

  // The next piece of a sequence's pending tokens: up to the next multiple of prefill_chunk, and
  // never across the end of the prompt (where Runner::append cuts a prompt, too).
  int64_t next_chunk(const Sequence& s) const {
    const int64_t chunk = std::max<int64_t>(1, options.prefill_chunk);
    const int64_t prompt = static_cast<int64_t>(s.request.prompt.size());
    int64_t end =
        std::min<int64_t>(static_cast<int64_t>(s.context.size()), (s.cached / chunk + 1) * chunk);
    if (s.cached < prompt) end = std::min(end, prompt);
    return end - s.cached;
  }

  void step() {
    const int64_t vocab = model->config().vocab_size;
    // Plan: one token for every decoding sequence, then prompt chunks while the budget lasts.
    // A chunk is never cut to fit the budget: the form a prompt's attention takes, and so its
    // bits, depend on how the prompt is cut (ForwardBatch), so prompts are cut the same way
    // whatever else runs (next_chunk). A step may exceed the budget by less than a chunk.
    std::vector<int64_t> plan(running.size(), 0);
    int64_t budget = std::max<int64_t>(1, serving.step_tokens);
    for (size_t i = 0; i < running.size(); ++i) {
      if (running[i]->pending() == 1) plan[i] = 1, budget -= 1;
    }
    for (size_t i = 0; i < running.size() && budget > 0; ++i) {
      if (running[i]->pending() > 1) {
        plan[i] = next_chunk(*running[i]);
        budget -= plan[i];
      }
    }
    // Reserve cache for the plan; while the cache is full, preempt the newest sequence.
    for (size_t i = 0; i < running.size();) {
      if (cache.reserve(running[i]->seq, running[i]->cached + plan[i])) {
        ++i;
        continue;
      }
      if (running.size() == 1) {
        finish(*running[0], FinishReason::Error, "kv cache exhausted");
        running.clear();
        return;
      }
      preempt_last();
      plan.pop_back();
      i = 0;
    }
    std::vector<int32_t> tokens, positions, seqs, rows;
    std::vector<uint8_t> expandable;  // prompt rows; generated ones (recomputed) stay absorbed
    std::vector<size_t> row_owner;    // running index of each logit row
    for (size_t i = 0; i < running.size(); ++i) {
      Sequence& s = *running[i];
      for (int64_t k = 0; k < plan[i]; ++k) {
        tokens.push_back(s.context[s.cached + k]);
        positions.push_back(static_cast<int32_t>(s.cached + k));
        seqs.push_back(s.seq);
        expandable.push_back(s.cached + k < static_cast<int64_t>(s.request.prompt.size()) ? 1 : 0);
      }
      if (plan[i] > 0 && s.cached + plan[i] == static_cast<int64_t>(s.context.size())) {
        rows.push_back(static_cast<int32_t>(tokens.size() - 1));
        row_owner.push_back(i);
      }
    }
    const std::vector<int64_t>& fed = plan;
    if (!tokens.empty()) {
      try {
        model->forward(ForwardBatch{tokens, positions, seqs, rows, expandable}, cache, pool, out);
      } catch (const std::exception& e) {
        for (auto& s : running)
          if (s) finish(*s, FinishReason::Error, e.what());
        running.clear();
        return;
      }
    }
    for (size_t i = 0; i < running.size() && i < fed.size(); ++i)
      if (running[i]) running[i]->cached += fed[i];
    int64_t generated = 0;
    for (size_t r = 0; r < rows.size(); ++r) {
      if (!running[row_owner[r]]) continue;
      Sequence& s = *running[row_owner[r]];
      std::span<const float> logits(out.logits.data() + r * vocab, static_cast<size_t>(vocab));
      TokenEvent e;
      e.request = s.id;
      try {
        e.token = s.sampler.sample(logits, s.context, s.generated);
      } catch (const std::exception& ex) {
        finish(s, FinishReason::Error, ex.what());
        running[row_owner[r]].reset();
        continue;
      }
      if (s.request.top_logprobs >= 0) {
        e.logprob = token_logprob(logits, e.token);
        if (s.request.top_logprobs > 0) e.top = top_logprobs(logits, s.request.top_logprobs);
      }
      s.context.push_back(e.token);
      s.generated.push_back(e.token);
      ++generated;
      const bool stop_token = std::find(s.request.stop_tokens.begin(), s.request.stop_tokens.end(),
                                        e.token) != s.request.stop_tokens.end();
      const bool length = static_cast<int64_t>(s.generated.size()) >= s.request.max_tokens ||
                          static_cast<int64_t>(s.context.size()) >= cache.max_positions();
      if (stop_token || length) {
        e.finish = stop_token ? FinishReason::Stop : FinishReason::Length;
        e.prompt_tokens = static_cast<int64_t>(s.request.prompt.size());
        e.generated_tokens = static_cast<int64_t>(s.generated.size());
        release(s);
      }
      s.callback(e);
      if (e.finish != FinishReason::None) running[row_owner[r]].reset();
    }
    running.erase(std::remove(running.begin(), running.end(), nullptr), running.end());
    std::lock_guard<std::mutex> lock(mutex);
    publish_gauges();
    stats.steps += tokens.empty() ? 0 : 1;
    stats.generated_tokens += generated;
  }

  void loop() {
    for (;;) {
      std::vector<std::unique_ptr<Sequence>> cancelled;
      if (!drain_inbox(cancelled)) break;
      for (auto& s : cancelled) finish(*s, FinishReason::Cancelled);
      if (!running.empty()) step();
    }
    for (auto& s : running) finish(*s, FinishReason::Cancelled);
    running.clear();
    std::deque<std::unique_ptr<Sequence>> left;
    {
      std::lock_guard<std::mutex> lock(mutex);
      left.swap(waiting);
    }
    for (auto& s : left) finish(*s, FinishReason::Cancelled);
  }
};

Engine::Engine(std::shared_ptr<const Model> model, const EngineOptions& options,
               const ServingOptions& serving)
    : impl_(std::make_unique<Impl>(std::move(model), options, serving)) {
  impl_->thread = std::thread([this] { impl_->loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stop = true;
  }
  impl_->wake.notify_all();
  impl_->thread.join();
}

const Model& Engine::model() const {
  return *impl_->model;
}

int64_t Engine::context_size() const {
  return impl_->cache.max_positions();
}

uint64_t Engine::submit(GenerationRequest request, TokenCallback callback) {
  const ModelConfig& c = impl_->model->config();
  if (request.prompt.empty()) throw Error("prompt is empty");
  for (int32_t t : request.prompt) {
    if (t < 0 || t >= c.vocab_size)
      throw Error("prompt token id " + std::to_string(t) + " is outside the vocabulary [0, " +
                  std::to_string(c.vocab_size) + ")");
  }
  const int64_t ctx = context_size();
  if (static_cast<int64_t>(request.prompt.size()) >= ctx)
    throw Error("prompt of " + std::to_string(request.prompt.size()) +
                " tokens does not fit the context size " + std::to_string(ctx));
  if (request.max_tokens < 1) throw Error("max_tokens must be at least 1");
  request.sampling.validate();
  if (!callback) throw Error("submit: no callback");
  std::unique_lock<std::mutex> lock(impl_->mutex);
  if (static_cast<int64_t>(impl_->waiting.size()) >= impl_->serving.max_waiting)
    throw Error("busy: " + std::to_string(impl_->waiting.size()) + " requests are already waiting");
  const uint64_t id = impl_->next_id++;
  impl_->stats.prompt_tokens += static_cast<int64_t>(request.prompt.size());
  impl_->waiting.push_back(std::make_unique<Sequence>(id, std::move(request), std::move(callback)));
  lock.unlock();
  impl_->wake.notify_all();
  return id;
}

void Engine::cancel(uint64_t request) {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->cancels.insert(request);
  }
  impl_->wake.notify_all();
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  EngineStats s = impl_->stats;
  s.waiting = static_cast<int64_t>(impl_->waiting.size());
  return s;
}

}  // namespace dsx
