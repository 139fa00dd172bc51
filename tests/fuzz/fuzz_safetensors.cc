// Any bytes as a model folder's model.safetensors, mapped and copied: its tensors (every byte
// of each in bounds) or a dsx::Error naming the file.
#include <cstdint>
#include <string>

#include "core/core.h"
#include "io/io.h"
#include "temp_dir.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const dsx::fuzz::TempDir temp;
  const std::string& dir = temp.path;
  temp.write("model.safetensors", data, size);
  for (dsx::LoadMode mode : {dsx::LoadMode::Map, dsx::LoadMode::Copy}) {
    try {
      const dsx::SafeTensors st = dsx::SafeTensors::open_dir(dir, mode);
      for (const std::string& name : st.names()) {
        const dsx::TensorInfo& t = st.get(name);
        const auto* bytes = static_cast<const volatile uint8_t*>(t.data);
        if (t.nbytes > 0) (void)(bytes[0] + bytes[t.nbytes - 1]);  // ASan checks both ends
      }
    } catch (const dsx::Error&) {
    }
  }
  return 0;
}
