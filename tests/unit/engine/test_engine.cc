// The continuous-batching engine: crowd-independence, cancellation, preemption, validation.
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>

#include "engine/engine.h"

namespace dsx {
namespace {

const std::string kModel = std::string(DSX_MODELS_DIR) + "/tiny-v3";

std::shared_ptr<const Model> tiny_model() {
  static std::shared_ptr<const Model> model = Model::load(kModel);
  return model;
}

// Collects one request's events; wait() returns its tokens once it finished.
struct Collector {
  std::mutex mutex;
  std::condition_variable done_cv;
  std::vector<int32_t> tokens;
  FinishReason finish = FinishReason::None;
  std::string error;

  TokenCallback callback() {
    return [this](const TokenEvent& e) {
      std::lock_guard<std::mutex> lock(mutex);
      if (e.token >= 0) tokens.push_back(e.token);
      if (e.finish != FinishReason::None) {
        finish = e.finish;
        error = e.error;
        done_cv.notify_all();
      }
    };
  }
  std::vector<int32_t> wait() {
    std::unique_lock<std::mutex> lock(mutex);
    done_cv.wait(lock, [&] { return finish != FinishReason::None; });
    return tokens;
  }
};

GenerationRequest greedy_request(int i, int64_t max_tokens) {
  GenerationRequest r;
  for (int k = 0; k < 5 + 7 * i; ++k) r.prompt.push_back((37 * i + 11 * k + 3) % 1000 + 2);
  r.sampling.temperature = 0.0f;
  r.max_tokens = max_tokens;
  return r;
}

std::vector<int32_t> solo(const GenerationRequest& r, int64_t prefill_chunk = 512) {
  EngineOptions o;
  o.threads = 2;
  o.ctx_size = 256;
  o.prefill_chunk = prefill_chunk;
  Engine engine(tiny_model(), o, ServingOptions{});
  Collector c;
  engine.submit(r, c.callback());
  return c.wait();
}

TEST(Engine, GreedyIsTheSameAloneAndInACrowd) {
  constexpr int kRequests = 16;
  std::vector<std::vector<int32_t>> alone;
  // Prompts of up to 110 tokens cut in 32s: runs of both attention forms (expanded from the
  // second chunk on, over keys expanded from the cache), in steps beside other sequences' decoding.
  for (int i = 0; i < kRequests; ++i) alone.push_back(solo(greedy_request(i, 12 + i), 32));

  EngineOptions o;
  o.threads = 2;
  o.ctx_size = 256;
  o.prefill_chunk = 32;
  ServingOptions s;
  s.max_running = 16;
  s.step_tokens = 40;  // about one chunk a step: prefill alongside decoding
  Engine engine(tiny_model(), o, s);
  std::vector<Collector> collectors(kRequests);
  for (int i = 0; i < kRequests; ++i)
    engine.submit(greedy_request(i, 12 + i), collectors[i].callback());
  for (int i = 0; i < kRequests; ++i) {
    EXPECT_EQ(collectors[i].wait(), alone[i]) << "request " << i;
    EXPECT_EQ(collectors[i].finish, FinishReason::Length);
  }
  EXPECT_EQ(engine.stats().kv_blocks_used, 0);
}

TEST(Engine, PreemptionUnderATinyCacheKeepsResults) {
  // Two sequences' worth of cache for four requests: the engine must queue and preempt, and
  // recomputation must reproduce the same tokens.
  std::vector<std::vector<int32_t>> alone;
  for (int i = 0; i < 4; ++i) alone.push_back(solo(greedy_request(i, 40)));
  EngineOptions o;
  o.threads = 1;
  o.ctx_size = 64;
  ServingOptions s;
  s.max_running = 2;
  Engine engine(tiny_model(), o, s);
  std::vector<Collector> collectors(4);
  for (int i = 0; i < 4; ++i) engine.submit(greedy_request(i, 40), collectors[i].callback());
  for (int i = 0; i < 4; ++i) {
    std::vector<int32_t> got = collectors[i].wait();
    // The context (64) may end generation early: compare what was generated.
    ASSERT_LE(got.size(), alone[i].size());
    EXPECT_TRUE(std::equal(got.begin(), got.end(), alone[i].begin())) << "request " << i;
  }
}

TEST(Engine, CancelFreesTheCache) {
  EngineOptions o;
  o.threads = 1;
  o.ctx_size = 512;
  Engine engine(tiny_model(), o, ServingOptions{});
  Collector c;
  GenerationRequest r = greedy_request(3, 400);
  const uint64_t id = engine.submit(r, c.callback());
  while (true) {
    {
      std::lock_guard<std::mutex> lock(c.mutex);
      if (c.tokens.size() >= 2) break;
    }
    std::this_thread::yield();
  }
  engine.cancel(id);
  c.wait();
  EXPECT_EQ(c.finish, FinishReason::Cancelled);
  // The engine frees the blocks before delivering the final event.
  EXPECT_EQ(engine.stats().kv_blocks_used, 0);
  EXPECT_LT(c.tokens.size(), 400u);
}

TEST(Engine, StopTokenEndsWithStop) {
  std::vector<int32_t> alone = solo(greedy_request(1, 10));
  GenerationRequest r = greedy_request(1, 10);
  r.stop_tokens = {alone[3]};
  EngineOptions o;
  o.threads = 1;
  Engine engine(tiny_model(), o, ServingOptions{});
  Collector c;
  engine.submit(r, c.callback());
  std::vector<int32_t> got = c.wait();
  EXPECT_EQ(c.finish, FinishReason::Stop);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back(), alone[3]);
  EXPECT_LE(got.size(), 4u);
}

TEST(Engine, RejectsBadRequests) {
  EngineOptions o;
  o.threads = 1;
  o.ctx_size = 32;
  ServingOptions s;
  s.max_running = 1;
  s.max_waiting = 1;
  Engine engine(tiny_model(), o, s);
  Collector c;
  GenerationRequest empty;
  EXPECT_THROW(engine.submit(empty, c.callback()), Error);
  GenerationRequest bad_id = greedy_request(0, 4);
  bad_id.prompt[0] = 5000;
  try {
    engine.submit(bad_id, c.callback());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("5000"), std::string::npos);
  }
  GenerationRequest too_long = greedy_request(0, 4);
  too_long.prompt.assign(40, 5);
  EXPECT_THROW(engine.submit(too_long, c.callback()), Error);
  GenerationRequest bad_temp = greedy_request(0, 4);
  bad_temp.sampling.temperature = -1.0f;
  EXPECT_THROW(engine.submit(bad_temp, c.callback()), Error);
}

TEST(Engine, SeededSamplingIsReproducible) {
  GenerationRequest r = greedy_request(2, 16);
  r.sampling.temperature = 0.9f;
  r.sampling.top_p = 0.95f;
  r.sampling.seed = 1234;
  EXPECT_EQ(solo(r), solo(r));
  GenerationRequest other = r;
  other.sampling.seed = 99;
  EXPECT_NE(solo(r), solo(other));
}

}  // namespace
}  // namespace dsx
