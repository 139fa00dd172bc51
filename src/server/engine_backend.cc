// Backend over the real Engine. Kept in its own file so test binaries that drive the server
// with a scripted backend do not pull in the engine.
#include "server/server.h"

namespace dsx {
namespace {

class EngineBackend : public Backend {
 public:
  explicit EngineBackend(std::shared_ptr<Engine> engine) : engine_(std::move(engine)) {}
  uint64_t submit(GenerationRequest request, TokenCallback callback) override {
    return engine_->submit(std::move(request), std::move(callback));
  }
  void cancel(uint64_t request) override { engine_->cancel(request); }
  EngineStats stats() const override { return engine_->stats(); }
  int64_t context_size() const override { return engine_->context_size(); }

 private:
  std::shared_ptr<Engine> engine_;
};

}  // namespace

std::shared_ptr<Backend> engine_backend(std::shared_ptr<Engine> engine) {
  return std::make_shared<EngineBackend>(std::move(engine));
}

}  // namespace dsx
