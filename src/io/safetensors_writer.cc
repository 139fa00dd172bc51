// Writing safetensors checkpoints: plan every file's layout from the declared tensors, write each
// header first, then let the data stream in with pwrite at computed offsets (any order, any
// thread), and rename the files into place once everything has arrived.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>

#include "io/io.h"

namespace dsx {

namespace {

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

std::string shard_name(size_t i, size_t n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, n);
  return buf;
}

// Writes all of [data, data + n) at offset, retrying short writes.
void pwrite_all(int fd, const std::string& path, const void* data, size_t n, uint64_t offset) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w =
        ::pwrite(fd, p, std::min<size_t>(n, size_t{1} << 30), static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(path + ": write failed: " + std::strerror(errno));
    }
    if (w == 0) throw Error(path + ": write failed: no progress");
    p += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
}

}  // namespace

uint64_t TensorSpec::nbytes() const {
  uint64_t n = dtype_size(dtype);
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

struct SafeTensorsWriter::Impl {
  struct Slot {
    size_t file = 0;      // index into files
    uint64_t offset = 0;  // absolute offset of the tensor's first byte in its file
    uint64_t nbytes = 0;
    uint64_t written = 0;
  };
  struct File {
    std::string name;      // final name inside dir
    std::string tmp_path;  // written here, renamed by finish()
    int fd = -1;
    uint64_t size = 0;
  };

  std::string dir;
  std::vector<TensorSpec> specs;
  std::map<std::string, Slot> slots;
  std::vector<File> files;
  std::vector<std::string> file_names;
  uint64_t total = 0;
  bool finished = false;
  std::mutex mutex;

  void close_all() {
    for (File& f : files) {
      if (f.fd >= 0) ::close(f.fd);
      f.fd = -1;
    }
  }
  void remove_tmp() {
    for (File& f : files) ::unlink(f.tmp_path.c_str());
  }
};

SafeTensorsWriter::SafeTensorsWriter(const std::string& dir, std::vector<TensorSpec> tensors,
                                     uint64_t max_shard_bytes)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.dir = dir;
  m.specs = std::move(tensors);
  if (m.specs.empty()) throw Error(dir + ": no tensors to write");
  std::set<std::string> seen;
  for (const TensorSpec& t : m.specs) {
    if (t.name.empty() || t.name == "__metadata__")
      throw Error(dir + ": invalid tensor name '" + t.name + "'");
    if (!seen.insert(t.name).second) throw Error(dir + ": tensor '" + t.name + "' declared twice");
    for (int64_t d : t.shape)
      if (d < 0) throw Error(dir + ": tensor '" + t.name + "' has a negative dimension");
    m.total += t.nbytes();
  }

  // Shards: consecutive tensors in declaration order, at most max_shard_bytes of data each.
  std::vector<std::vector<size_t>> groups(1);
  uint64_t in_group = 0;
  for (size_t i = 0; i < m.specs.size(); ++i) {
    const uint64_t n = m.specs[i].nbytes();
    if (max_shard_bytes > 0 && !groups.back().empty() && in_group + n > max_shard_bytes) {
      groups.emplace_back();
      in_group = 0;
    }
    groups.back().push_back(i);
    in_group += n;
  }

  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw Error(dir + ": output folder does not exist");

  const size_t nfiles = groups.size();
  for (size_t g = 0; g < nfiles; ++g) {
    Impl::File f;
    f.name = nfiles == 1 ? "model.safetensors" : shard_name(g, nfiles);
    f.tmp_path = join_path(dir, f.name + ".partial");
    // Within a file: wider element types first (stable), so with no gaps between tensors each
    // starts at a multiple of its element size from the 8-byte-aligned data section.
    std::vector<size_t> order = groups[g];
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return dtype_size(m.specs[a].dtype) > dtype_size(m.specs[b].dtype);
    });
    nlohmann::json header = nlohmann::json::object();
    header["__metadata__"] = {{"format", "pt"}};
    uint64_t offset = 0;
    for (size_t i : order) {
      const TensorSpec& t = m.specs[i];
      const uint64_t n = t.nbytes();
      header[t.name] = {{"dtype", dtype_name(t.dtype)},
                        {"shape", t.shape},
                        {"data_offsets", {offset, offset + n}}};
      offset += n;
    }
    std::string text = header.dump();
    while ((8 + text.size()) % 8) text.push_back(' ');
    const uint64_t data_start = 8 + text.size();
    for (size_t i : order) {
      const TensorSpec& t = m.specs[i];
      Impl::Slot s;
      s.file = g;
      s.offset = data_start + header[t.name]["data_offsets"][0].get<uint64_t>();
      s.nbytes = t.nbytes();
      m.slots[t.name] = s;
    }
    f.size = data_start + offset;

    f.fd = ::open(f.tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f.fd < 0) {
      const int err = errno;
      m.close_all();
      m.remove_tmp();
      throw Error(f.tmp_path + ": cannot create: " + std::strerror(err));
    }
    m.files.push_back(f);
    try {
      if (::ftruncate(f.fd, static_cast<off_t>(f.size)) != 0)
        throw Error(f.tmp_path + ": cannot size to " + std::to_string(f.size) +
                    " bytes: " + std::strerror(errno));
      uint8_t len[8];
      for (int b = 0; b < 8; ++b) len[b] = static_cast<uint8_t>(text.size() >> (8 * b));
      pwrite_all(f.fd, f.tmp_path, len, 8, 0);
      pwrite_all(f.fd, f.tmp_path, text.data(), text.size(), 8);
    } catch (...) {
      m.close_all();
      m.remove_tmp();
      throw;
    }
    m.file_names.push_back(f.name);
  }
}

SafeTensorsWriter::~SafeTensorsWriter() {
  if (impl_ && !impl_->finished) {
    impl_->close_all();
    impl_->remove_tmp();
  }
}

void SafeTensorsWriter::write(const std::string& name, const void* data, size_t nbytes,
                              uint64_t offset) {
  Impl& m = *impl_;
  if (m.finished) throw Error(m.dir + ": write of tensor '" + name + "' after finish()");
  auto it = m.slots.find(name);
  if (it == m.slots.end()) throw Error(m.dir + ": tensor '" + name + "' was not declared");
  Impl::Slot& s = it->second;
  const Impl::File& f = m.files[s.file];
  if (offset > s.nbytes || nbytes > s.nbytes - offset)
    throw Error(f.tmp_path + ": tensor '" + name + "': bytes [" + std::to_string(offset) + ", " +
                std::to_string(offset + nbytes) + ") lie outside its " + std::to_string(s.nbytes) +
                " bytes");
  pwrite_all(f.fd, f.tmp_path, data, nbytes, s.offset + offset);
  std::lock_guard<std::mutex> lock(m.mutex);
  s.written += nbytes;
}

void SafeTensorsWriter::finish() {
  Impl& m = *impl_;
  if (m.finished) return;
  for (const TensorSpec& t : m.specs) {
    const Impl::Slot& s = m.slots.at(t.name);
    if (s.written != s.nbytes)
      throw Error(m.files[s.file].tmp_path + ": tensor '" + t.name + "' got " +
                  std::to_string(s.written) + " of its " + std::to_string(s.nbytes) + " bytes");
  }
  for (Impl::File& f : m.files) {
    if (::close(f.fd) != 0) {
      f.fd = -1;
      throw Error(f.tmp_path + ": close failed: " + std::strerror(errno));
    }
    f.fd = -1;
  }
  // Data files first, then the index that names them, so the index never points at a file that
  // is not in place.
  for (const Impl::File& f : m.files) {
    const std::string final_path = join_path(m.dir, f.name);
    if (::rename(f.tmp_path.c_str(), final_path.c_str()) != 0)
      throw Error(final_path + ": cannot rename into place: " + std::strerror(errno));
  }
  const std::string index_path = join_path(m.dir, "model.safetensors.index.json");
  if (m.files.size() > 1) {
    nlohmann::json index;
    index["metadata"] = {{"total_size", m.total}};
    nlohmann::json map = nlohmann::json::object();
    for (const TensorSpec& t : m.specs) map[t.name] = m.files[m.slots.at(t.name).file].name;
    index["weight_map"] = map;
    const std::string tmp = index_path + ".partial";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << index.dump(2) << "\n";
      if (!out) throw Error(tmp + ": cannot write");
    }
    if (::rename(tmp.c_str(), index_path.c_str()) != 0)
      throw Error(index_path + ": cannot rename into place: " + std::strerror(errno));
  } else {
    ::unlink(index_path.c_str());  // a stale index would shadow model.safetensors
  }
  m.finished = true;
}

const std::vector<std::string>& SafeTensorsWriter::files() const {
  return impl_->file_names;
}

uint64_t SafeTensorsWriter::total_bytes() const {
  return impl_->total;
}

}  // namespace dsx
