// dsx io: memory-mapped safetensors checkpoints (single file or sharded) and JSON files.
// Every header field is validated before use; a bad file gives a dsx::Error naming the file and
// the tensor or field, never a crash.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/core.h"

namespace dsx {

// How a model's weight files are brought into memory.
enum class LoadMode {
  Map,   // memory-map them: nothing is copied, pages come and go with the page cache
  Copy,  // read them into anonymous memory on transparent huge pages (where the kernel grants
         // them): decode streams every weight once per token, and with 4 KiB file pages ~10% of
         // it goes to TLB misses and prefetch streams cut at every page
  Auto,  // Copy when the files fit in half of the available memory, else Map
};
// "auto", "map" or "copy"; throws Error naming the value otherwise.
LoadMode parse_load_mode(const std::string& name);

// A view of a whole file: a read-only memory mapping, or (copy) a private copy that stays
// writable until seal() (so its owner can rearrange what it holds first).
class MappedFile {
 public:
  explicit MappedFile(const std::string& path, bool copy = false);  // throws Error naming the path
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // The copy's bytes, writable; nullptr for a mapping or once sealed.
  uint8_t* writable() const { return sealed_ ? nullptr : copy_.data(); }
  void seal();  // makes a copy read-only for good (a mapping already is)

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  void* region_ = nullptr;  // the file mapping (none for a copy)
  size_t region_size_ = 0;
  HugePages copy_;  // the copy (empty for a mapping)
  bool sealed_ = false;
};

// One tensor of a checkpoint, pointing into the mapping (no copy).
struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
  std::string file;  // path of the file that holds it, for messages

  int64_t numel() const;
  std::string shape_string() const;  // "[128, 256]"
};

// The tensors of a checkpoint: one .safetensors file, or the shards a
// model.safetensors.index.json names. Keeps the files mapped while alive.
class SafeTensors {
 public:
  // A model folder: model.safetensors.index.json if present, else model.safetensors,
  // else the folder's only *.safetensors file.
  static SafeTensors open_dir(const std::string& dir, LoadMode mode = LoadMode::Map);
  static SafeTensors open_file(const std::string& path);

  const TensorInfo* find(const std::string& name) const;
  // Throws Error "<source>: tensor 'NAME' is missing".
  const TensorInfo& get(const std::string& name) const;
  std::vector<std::string> names() const;
  const std::string& source() const { return source_; }
  bool copied() const { return copied_; }  // files read into memory (LoadMode::Copy) or mapped
  // Copied files only, until seal(): the writable address of bytes [p, p + bytes) of a tensor's
  // data, so the loader can rearrange a tensor in place; nullptr otherwise.
  void* writable(const void* p, size_t bytes) const;
  void seal();  // every copied file read-only from now on

 private:
  void add_file(const std::string& path, const std::map<std::string, std::string>* expected,
                bool copy = false);

  std::string source_;
  bool copied_ = false;
  std::vector<std::shared_ptr<MappedFile>> files_;
  std::map<std::string, TensorInfo> tensors_;
};

// Parses a JSON file; throws Error "<path>: ..." if it is missing or malformed.
nlohmann::json read_json_file(const std::string& path);

// Whether a path exists and is a regular file.
bool file_exists(const std::string& path);

// ---------------------------------------------------------------------------------------------
// Writing checkpoints (io/safetensors_writer.cc).

// A tensor to be written: its name, element type and shape.
struct TensorSpec {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t nbytes() const;  // numel * dtype_size
};

// Writes a safetensors checkpoint into a folder: model.safetensors, or, when the tensors exceed
// max_shard_bytes (> 0), model-0000i-of-0000n.safetensors shards plus
// model.safetensors.index.json. All tensors are declared up front, so each file's header (with
// the data offsets, padded so the data section starts 8-byte aligned) is written first; the data
// then streams in: write() puts bytes of one tensor at their place in its file, in any order and
// from any thread. Tensors are packed without gaps (as the format requires), wider element types
// first, so every tensor starts aligned to its element size. Shards are filled in declaration
// order; a tensor larger than max_shard_bytes gets a shard of its own. Files are written under a
// temporary name and renamed by finish(); a writer destroyed before finish() removes them.
class SafeTensorsWriter {
 public:
  SafeTensorsWriter(const std::string& dir, std::vector<TensorSpec> tensors,
                    uint64_t max_shard_bytes = 0);
  ~SafeTensorsWriter();
  SafeTensorsWriter(const SafeTensorsWriter&) = delete;
  SafeTensorsWriter& operator=(const SafeTensorsWriter&) = delete;

  // Writes bytes [offset, offset + nbytes) of tensor `name`. Each byte of each tensor must be
  // written exactly once. Thread-safe. Throws Error naming the file and tensor.
  void write(const std::string& name, const void* data, size_t nbytes, uint64_t offset = 0);
  // Checks every tensor was written in full, closes and renames the files, writes the index.
  void finish();

  const std::vector<std::string>& files() const;  // the data files' names (without the folder)
  uint64_t total_bytes() const;                   // all tensor data bytes

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dsx
