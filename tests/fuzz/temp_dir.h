// A folder of its own for a fuzz target's files, removed at exit (the file-based targets).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace dsx::fuzz {

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

}  // namespace dsx::fuzz
