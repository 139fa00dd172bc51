// Any bytes as a model folder's model.safetensors, mapped and copied: its tensors (every byte
// of each in bounds) or a dsx::Error naming the file.
#include <cstdint>
#include <string>

#include "core/core.h"
#include "fuzz_util.h"
#include "io/io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const dsx::fuzz::TempDir temp;
  const std::string& dir = temp.path;
  temp.write("model.safetensors", data, size);
  for (dsx::LoadMode mode : {dsx::LoadMode::Map, dsx::LoadMode::Copy}) {
    try {
      dsx::fuzz::touch_tensors(dsx::SafeTensors::open_dir(dir, mode));
    } catch (const dsx::Error&) {
    }
  }
  return 0;
}
