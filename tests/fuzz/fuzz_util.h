// What the fuzz targets that read files share: a folder of their own, and a check that a
// checkpoint's tensors lie where they say.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "io/io.h"

namespace dsx::fuzz {

// A folder of the target's own, removed at exit.
struct TempDir {
  std::string path;
  TempDir() {
    path = (std::filesystem::temp_directory_path() / "dsx-fuzz-XXXXXX").string();
    if (mkdtemp(path.data()) == nullptr) std::abort();
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  // Writes bytes to `name` in the folder, replacing it; returns its path.
  std::string write(const std::string& name, const void* data, size_t size) const {
    const std::string file = path + "/" + name;
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    return file;
  }
};

// Reads the first and the last byte of every tensor of st: under ASan, a tensor that reaches
// past its file (or mapping) is reported there.
inline void touch_tensors(const SafeTensors& st) {
  for (const std::string& name : st.names()) {
    const TensorInfo& t = st.get(name);
    const auto* bytes = static_cast<const volatile uint8_t*>(t.data);
    if (t.nbytes > 0) (void)(bytes[0] + bytes[t.nbytes - 1]);
  }
}

}  // namespace dsx::fuzz
