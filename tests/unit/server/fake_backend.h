// A scripted Backend for driving the server without a model: every submit answers with the
// scripted tokens, delivered synchronously from submit() (so tests are deterministic), then the
// scripted finish. Records requests and cancels.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "server/server.h"
#include "tokenizer/tokenizer.h"

namespace dsx::testing {

inline const Tokenizer& demo_tokenizer() {
  static const Tokenizer tok = Tokenizer::load(std::string(DSX_MODELS_DIR) + "/demo-coder");
  return tok;
}

class FakeBackend : public Backend {
 public:
  std::vector<int32_t> tokens;  // emitted for every request
  FinishReason finish = FinishReason::Length;
  std::string error;           // with FinishReason::Error
  bool busy = false;           // submit throws "busy: ..."
  bool deliver_finish = true;  // false: the request stays open until cancelled
  int64_t context = 1024;

  std::vector<GenerationRequest> submitted;
  std::vector<uint64_t> cancelled;

  uint64_t submit(GenerationRequest request, TokenCallback callback) override {
    if (busy) throw Error("busy: 64 requests are waiting");
    const uint64_t id = ++next_id_;
    submitted.push_back(request);
    callbacks_.push_back(callback);
    for (size_t i = 0; i < tokens.size(); ++i) {
      TokenEvent e;
      e.request = id;
      e.token = tokens[i];
      e.logprob = -0.5f;
      if (request.top_logprobs > 0) e.top.push_back({tokens[i], -0.5f});
      callback(e);
    }
    if (deliver_finish) end(id, callback, finish);
    return id;
  }
  void cancel(uint64_t request) override {
    cancelled.push_back(request);
    if (!deliver_finish && request <= callbacks_.size())
      end(request, callbacks_[request - 1], FinishReason::Cancelled);
  }
  EngineStats stats() const override {
    EngineStats s;
    s.kv_blocks_total = 64;
    return s;
  }
  int64_t context_size() const override { return context; }

 private:
  void end(uint64_t id, const TokenCallback& callback, FinishReason reason) {
    TokenEvent e;
    e.request = id;
    e.finish = reason;
    e.error = error;
    e.generated_tokens = static_cast<int64_t>(tokens.size());
    callback(e);
  }
  uint64_t next_id_ = 0;
  std::vector<TokenCallback> callbacks_;
};

}  // namespace dsx::testing
