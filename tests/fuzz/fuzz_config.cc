// Any JSON as a model's config.json: a ModelConfig or a dsx::Error naming the field.
#include <cstdint>
#include <nlohmann/json.hpp>

#include "core/core.h"
#include "model/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json config = nlohmann::json::parse(data, data + size, nullptr, false);
  if (config.is_discarded()) return 0;  // read_json_file refuses it before
  try {
    (void)dsx::ModelConfig::from_json(config, "config.json");
  } catch (const dsx::Error&) {
  }
  return 0;
}
