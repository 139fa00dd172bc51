// safetensors: 8-byte little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets: [begin, end]} relative to the data section, then the data.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <limits>

#include "io/io.h"

namespace dsx {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // as the reference implementation limits it

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

bool checked_numel(const std::vector<int64_t>& shape, uint64_t* out) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return false;
    if (d != 0 && n > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d)) return false;
    n *= static_cast<uint64_t>(d);
  }
  *out = n;
  return true;
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorInfo::shape_string() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

SafeTensors SafeTensors::open_file(const std::string& path) {
  SafeTensors st;
  st.source_ = path;
  st.add_file(path, nullptr);
  return st;
}

namespace {

// MemAvailable from /proc/meminfo in bytes, 0 when unknown.
uint64_t available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return 0;
}

uint64_t file_size(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

}  // namespace

SafeTensors SafeTensors::open_dir(const std::string& dir, LoadMode mode) {
  SafeTensors st;
  st.source_ = dir;
  // The files and, from the index, the tensors each must hold.
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> files;
  bool indexed = false;
  const std::string index_path = join_path(dir, "model.safetensors.index.json");
  if (file_exists(index_path)) {
    nlohmann::json index = read_json_file(index_path);
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
      throw Error(index_path + ": field 'weight_map' is missing or not an object");
    // file -> the tensors the index says it holds
    std::map<std::string, std::map<std::string, std::string>> by_file;
    for (auto& [name, file] : index["weight_map"].items()) {
      if (!file.is_string())
        throw Error(index_path + ": weight_map['" + name + "'] is not a string");
      const std::string f = file.get<std::string>();
      if (f.find('/') != std::string::npos || f == "..")
        throw Error(index_path + ": weight_map['" + name + "'] names a file outside the folder");
      by_file[f][name] = f;
    }
    for (auto& [file, names] : by_file) files.emplace_back(join_path(dir, file), names);
    indexed = true;
  } else if (const std::string single = join_path(dir, "model.safetensors"); file_exists(single)) {
    files.emplace_back(single, std::map<std::string, std::string>{});
  } else {
    std::vector<std::string> found;
    if (DIR* d = ::opendir(dir.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n.size() > 12 && n.compare(n.size() - 12, 12, ".safetensors") == 0) found.push_back(n);
      }
      ::closedir(d);
    } else {
      throw Error(dir + ": cannot open model folder");
    }
    if (found.size() != 1)
      throw Error(dir + ": no model.safetensors or model.safetensors.index.json (found " +
                  std::to_string(found.size()) + " .safetensors files)");
    files.emplace_back(join_path(dir, found[0]), std::map<std::string, std::string>{});
  }
  bool copy = mode == LoadMode::Copy;
  if (mode == LoadMode::Auto) {
    uint64_t total = 0;
    for (const auto& f : files) total += file_size(f.first);
    copy = total <= available_memory() / 2;
  }
  for (const auto& [path, names] : files) st.add_file(path, indexed ? &names : nullptr, copy);
  st.copied_ = copy;
  return st;
}

void* SafeTensors::writable(const void* p, size_t bytes) const {
  const auto* at = static_cast<const uint8_t*>(p);
  for (const auto& file : files_) {
    uint8_t* w = file->writable();
    if (w && at >= file->data() && bytes <= file->size() &&
        static_cast<size_t>(at - file->data()) <= file->size() - bytes)
      return w + (at - file->data());
  }
  return nullptr;
}

void SafeTensors::seal() {
  for (const auto& file : files_) file->seal();
}

void SafeTensors::add_file(const std::string& path,
                           const std::map<std::string, std::string>* expected, bool copy) {
  auto file = std::make_shared<MappedFile>(path, copy);
  const uint8_t* bytes = file->data();
  const size_t size = file->size();
  if (size < 8)
    throw Error(path + ": file too short for a safetensors header (" + std::to_string(size) +
                " bytes)");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxHeaderBytes || header_len > size - 8)
    throw Error(path + ": header length " + std::to_string(header_len) +
                " exceeds the file or the 100 MiB limit");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes + 8, bytes + 8 + header_len);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": malformed header JSON: " + e.what());
  }
  if (!header.is_object()) throw Error(path + ": header is not a JSON object");
  const uint8_t* data = bytes + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;

  struct Span {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Span> spans;
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string where = path + ": tensor '" + name + "'";
    if (!entry.is_object()) throw Error(where + ": entry is not an object");
    if (!entry.contains("dtype") || !entry["dtype"].is_string())
      throw Error(where + ": field 'dtype' is missing or not a string");
    TensorInfo info;
    info.name = name;
    info.file = path;
    const std::string dtype = entry["dtype"].get<std::string>();
    if (!parse_dtype(dtype, &info.dtype)) throw Error(where + ": unknown dtype '" + dtype + "'");
    if (!entry.contains("shape") || !entry["shape"].is_array())
      throw Error(where + ": field 'shape' is missing or not an array");
    for (auto& d : entry["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        throw Error(where + ": field 'shape' has a negative or non-integer dimension");
      info.shape.push_back(d.get<int64_t>());
    }
    auto& offsets = entry["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
      throw Error(where + ": field 'data_offsets' must be two non-negative integers");
    const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    if (begin > end || end > data_size)
      throw Error(where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                  "] lie outside the data section of " + std::to_string(data_size) + " bytes");
    uint64_t numel = 0;
    if (!checked_numel(info.shape, &numel) || numel > data_size)
      throw Error(where + ": shape " + info.shape_string() + " is too large for the file");
    if (numel * dtype_size(info.dtype) != end - begin)
      throw Error(where + ": shape " + info.shape_string() + " of " + dtype + " needs " +
                  std::to_string(numel * dtype_size(info.dtype)) + " bytes, data_offsets give " +
                  std::to_string(end - begin));
    spans.push_back({begin, end, name});
    if (expected && !expected->count(name)) continue;  // the index assigns it to another shard
    info.data = data + begin;
    info.nbytes = end - begin;
    if (tensors_.count(name)) throw Error(where + ": defined in more than one file");
    tensors_[name] = std::move(info);
  }
  std::sort(spans.begin(), spans.end(),
            [](const Span& a, const Span& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].begin < spans[i - 1].end)
      throw Error(path + ": tensors '" + spans[i - 1].name + "' and '" + spans[i].name +
                  "' overlap");
  }
  if (expected) {
    for (auto& [name, _] : *expected) {
      if (!tensors_.count(name))
        throw Error(path + ": tensor '" + name + "' listed in the index is not in this file");
    }
  }
  files_.push_back(std::move(file));
}

const TensorInfo* SafeTensors::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

const TensorInfo& SafeTensors::get(const std::string& name) const {
  const TensorInfo* t = find(name);
  if (!t) throw Error(source_ + ": tensor '" + name + "' is missing");
  return *t;
}

std::vector<std::string> SafeTensors::names() const {
  std::vector<std::string> out;
  for (auto& [name, _] : tensors_) out.push_back(name);
  return out;
}

}  // namespace dsx
