// Any bytes as a model folder's model.safetensors.index.json, beside two valid shards: the
// tensors it maps (in bounds) or a dsx::Error naming the index, never a file outside the folder.
#include <cstdint>
#include <cstring>
#include <string>

#include "core/core.h"
#include "fuzz_util.h"
#include "io/io.h"

namespace {

// A safetensors file holding one float32 tensor `name` of shape [2]: 8-byte header length, the
// JSON header, then the 8 data bytes.
std::string one_tensor_file(const std::string& name) {
  const std::string header =
      "{\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  std::string file(8, '\0');
  const uint64_t length = header.size();
  std::memcpy(file.data(), &length, 8);  // little-endian on every machine dsx builds for
  return file + header + std::string(8, '\x01');
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const dsx::fuzz::TempDir temp;
  static const bool shards_written = [] {
    for (const char* shard : {"a", "b"}) {
      const std::string bytes = one_tensor_file(std::string(shard) + ".weight");
      temp.write(std::string("model-") + shard + ".safetensors", bytes.data(), bytes.size());
    }
    return true;
  }();
  (void)shards_written;
  temp.write("model.safetensors.index.json", data, size);
  try {
    dsx::fuzz::touch_tensors(dsx::SafeTensors::open_dir(temp.path));
  } catch (const dsx::Error&) {
  }
  return 0;
}
