// Session: scripted engine events -> text deltas, stop strings, usage, cancellation.
#include <gtest/gtest.h>

#include "fake_backend.h"
#include "server/session.h"

namespace dsx::server {
namespace {

using testing::demo_tokenizer;
using testing::FakeBackend;

Job job_with(std::vector<std::string> stops = {}, int top_logprobs = -1) {
  Job job;
  job.request.prompt = {0, 5, 6};
  job.request.max_tokens = 100;
  job.request.stop_tokens = {*demo_tokenizer().eos_id()};
  job.request.top_logprobs = top_logprobs;
  job.stops = std::move(stops);
  return job;
}

Delta drain(Session& s) {
  Delta all;
  for (int i = 0; i < 100; ++i) {
    std::optional<Delta> d = s.next(std::chrono::milliseconds(10));
    if (!d) continue;
    all.text += d->text;
    all.tokens.insert(all.tokens.end(), d->tokens.begin(), d->tokens.end());
    if (d->done) {
      all.done = true;
      all.finish_reason = d->finish_reason;
      all.error = d->error;
      break;
    }
  }
  return all;
}

TEST(ServerSession, DetokenizesAndReportsUsage) {
  auto backend = std::make_shared<FakeBackend>();
  const std::string text = "def add(a, b):\n    return a + b\n";
  backend->tokens = demo_tokenizer().encode(text);
  Metrics metrics;
  {
    Session s(backend, demo_tokenizer(), job_with(), &metrics, nullptr);
    const Delta d = drain(s);
    EXPECT_TRUE(d.done);
    EXPECT_EQ(d.text, text);
    EXPECT_EQ(d.finish_reason, "length");
    EXPECT_EQ(s.completion_tokens(), static_cast<int64_t>(backend->tokens.size()));
    EXPECT_EQ(s.prompt_tokens(), 3);
    EXPECT_TRUE(d.tokens.empty());  // no logprobs asked
  }
  EXPECT_TRUE(backend->cancelled.empty());  // finished requests are not cancelled
  EXPECT_NE(metrics.render({}).find("dsx_generated_tokens_total " +
                                    std::to_string(backend->tokens.size())),
            std::string::npos);
}

TEST(ServerSession, EosEndsTheTextUnseen) {
  auto backend = std::make_shared<FakeBackend>();
  backend->tokens = demo_tokenizer().encode("x = 1");
  backend->tokens.push_back(*demo_tokenizer().eos_id());
  backend->finish = FinishReason::Stop;
  Session s(backend, demo_tokenizer(), job_with(), nullptr, nullptr);
  const Delta d = drain(s);
  EXPECT_EQ(d.text, "x = 1");
  EXPECT_EQ(d.finish_reason, "stop");
}

TEST(ServerSession, StopStringCutsTheTextAndCancels) {
  auto backend = std::make_shared<FakeBackend>();
  backend->tokens = demo_tokenizer().encode("a = 1\n\nb = 2\n");
  Session s(backend, demo_tokenizer(), job_with({"\n\n"}), nullptr, nullptr);
  const Delta d = drain(s);
  EXPECT_EQ(d.text, "a = 1");
  EXPECT_EQ(d.finish_reason, "stop");
  ASSERT_EQ(backend->cancelled.size(), 1u);  // the engine stops computing for us
  EXPECT_LT(s.completion_tokens(), static_cast<int64_t>(backend->tokens.size()));
  // Asking again after the end repeats the end.
  std::optional<Delta> again = s.next(std::chrono::milliseconds(1));
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->done);
  EXPECT_EQ(again->finish_reason, "stop");
}

TEST(ServerSession, StopStringThatNeverCompletesIsFlushed) {
  auto backend = std::make_shared<FakeBackend>();
  backend->tokens = demo_tokenizer().encode("value = STO");
  Session s(backend, demo_tokenizer(), job_with({"STOP"}), nullptr, nullptr);
  const Delta d = drain(s);
  EXPECT_EQ(d.text, "value = STO");
  EXPECT_EQ(d.finish_reason, "length");
}

TEST(ServerSession, LogprobsCarryEveryToken) {
  auto backend = std::make_shared<FakeBackend>();
  backend->tokens = demo_tokenizer().encode("print(1)");
  Session s(backend, demo_tokenizer(), job_with({}, 2), nullptr, nullptr);
  const Delta d = drain(s);
  ASSERT_EQ(d.tokens.size(), backend->tokens.size());
  for (size_t i = 0; i < d.tokens.size(); ++i) {
    EXPECT_EQ(d.tokens[i].id, backend->tokens[i]);
    EXPECT_FLOAT_EQ(d.tokens[i].logprob, -0.5f);
    EXPECT_EQ(d.tokens[i].top.size(), 1u);
  }
}

TEST(ServerSession, BusyEngineIs503) {
  auto backend = std::make_shared<FakeBackend>();
  backend->busy = true;
  try {
    Session s(backend, demo_tokenizer(), job_with(), nullptr, nullptr);
    FAIL() << "no error";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 503);
  }
}

TEST(ServerSession, EngineErrorEndsWithError) {
  auto backend = std::make_shared<FakeBackend>();
  backend->tokens = demo_tokenizer().encode("x");
  backend->finish = FinishReason::Error;
  backend->error = "kv cache exhausted";
  Session s(backend, demo_tokenizer(), job_with(), nullptr, nullptr);
  const Delta d = drain(s);
  EXPECT_EQ(d.finish_reason, "error");
  EXPECT_EQ(d.error, "kv cache exhausted");
}

TEST(ServerSession, DroppedSessionCancelsItsRequest) {
  auto backend = std::make_shared<FakeBackend>();
  backend->tokens = demo_tokenizer().encode("while True:");
  backend->deliver_finish = false;  // still generating
  ActiveRequests active;
  {
    Session s(backend, demo_tokenizer(), job_with(), nullptr, &active);
    EXPECT_EQ(active.all().size(), 1u);
    std::optional<Delta> d = s.next(std::chrono::milliseconds(10));
    ASSERT_TRUE(d);
    EXPECT_FALSE(d->done);
  }
  EXPECT_EQ(backend->cancelled.size(), 1u);
  EXPECT_TRUE(active.all().empty());
}

TEST(ServerSession, NextTimesOutWhenNothingComes) {
  auto backend = std::make_shared<FakeBackend>();
  backend->deliver_finish = false;
  Session s(backend, demo_tokenizer(), job_with(), nullptr, nullptr);
  EXPECT_FALSE(s.next(std::chrono::milliseconds(5)));
  s.cancel();  // the fake then delivers Cancelled
  std::optional<Delta> d = s.next(std::chrono::milliseconds(50));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->finish_reason, "cancelled");
}

}  // namespace
}  // namespace dsx::server
