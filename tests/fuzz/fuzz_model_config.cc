// Any config.json beside a real tiny checkpoint (the first byte picks tiny-v2-lite, tiny-v3 or
// tiny-v3-fp8 from models/, the rest is the config): a model that loads and runs a short prompt,
// or a dsx::Error naming the file and field. What the parser alone accepts (fuzz_config) must
// also agree with the weights, or be refused, before anything reads them.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/core.h"
#include "engine/engine.h"
#include "fuzz_util.h"
#include "model/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* const kModels[] = {"tiny-v2-lite", "tiny-v3", "tiny-v3-fp8"};
  static const dsx::fuzz::TempDir temp;
  static const bool linked = [] {
    for (const char* model : kModels) {
      std::filesystem::create_directory(temp.path + "/" + model);
      std::filesystem::create_symlink(
          std::string(DSX_MODELS_DIR) + "/" + model + "/model.safetensors",
          temp.path + "/" + model + "/model.safetensors");
    }
    return true;
  }();
  (void)linked;
  if (size == 0) return 0;
  const std::string model_name = kModels[data[0] % 3];
  temp.write(model_name + "/config.json", data + 1, size - 1);
  const std::string dir = temp.path + "/" + model_name;
  try {
    auto model = dsx::Model::load(dir, dsx::LoadMode::Map);
    dsx::EngineOptions options;
    options.threads = 1;
    options.ctx_size = 64;
    dsx::Runner runner(std::shared_ptr<const dsx::Model>(std::move(model)), options);
    const int32_t seq = runner.new_sequence();
    const std::vector<int32_t> prompt = {0, 5, 17, 3, 9};
    (void)runner.append(seq, prompt);
    (void)runner.append(seq, std::vector<int32_t>{7});
  } catch (const dsx::Error&) {
  }
  return 0;
}
