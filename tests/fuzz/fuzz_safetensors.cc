// Any bytes as a model folder's model.safetensors, mapped and copied: its tensors (every byte
// of each in bounds) or a dsx::Error naming the file.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/core.h"
#include "io/io.h"

namespace {

// A folder of its own for the input, removed at exit.
struct TempDir {
  std::string path;
  TempDir() {
    path = (std::filesystem::temp_directory_path() / "dsx-fuzz-XXXXXX").string();
    if (mkdtemp(path.data()) == nullptr) std::abort();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const TempDir temp;
  const std::string& dir = temp.path;
  {
    std::ofstream out(dir + "/model.safetensors", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
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
