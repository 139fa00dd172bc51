#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

#include "io/io.h"

namespace dsx {

LoadMode parse_load_mode(const std::string& name) {
  if (name == "auto") return LoadMode::Auto;
  if (name == "map") return LoadMode::Map;
  if (name == "copy") return LoadMode::Copy;
  throw Error("--load: '" + name + "' is not one of auto, map, copy");
}

namespace {

// Reads the whole file into fresh memory on huge pages. Throws Error naming the path.
HugePages read_copy(int fd, const std::string& path, size_t size) {
  HugePages copy;
  try {
    copy = HugePages(size);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
  for (size_t done = 0; done < size;) {
    const ssize_t got =
        ::pread(fd, copy.data() + done, std::min<size_t>(size - done, size_t{64} << 20),
                static_cast<off_t>(done));
    if (got <= 0) {
      const int err = got < 0 ? errno : EIO;
      throw Error(path + ": cannot read: " + std::strerror(err));
    }
    done += static_cast<size_t>(got);
  }
  return copy;
}

}  // namespace

MappedFile::MappedFile(const std::string& path, bool copy) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": not a regular file");
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0 && copy) {
    try {
      copy_ = read_copy(fd, path, size_);
      data_ = copy_.data();
    } catch (...) {
      ::close(fd);
      throw;
    }
  } else if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw Error(path + ": cannot map: " + std::strerror(err));
    }
    data_ = static_cast<const uint8_t*>(p);
    region_ = p;
    region_size_ = size_;
  }
  ::close(fd);
}

void MappedFile::seal() {
  if (copy_.data() == nullptr || sealed_) return;
  copy_.make_read_only();  // weights are not written after
  sealed_ = true;
}

MappedFile::~MappedFile() {
  if (region_) ::munmap(region_, region_size_);
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return nlohmann::json::parse(buffer.str());
  } catch (const nlohmann::json::exception& e) {
    // nlohmann's messages are one line and give the byte position.
    throw Error(path + ": malformed JSON: " + e.what());
  }
}

}  // namespace dsx
