// SafeTensorsWriter: what it writes must read back through SafeTensors (single file and shards),
// byte for byte, with every tensor aligned to its element size; misuse gives a dsx::Error.
#include <dirent.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "io/io.h"

namespace dsx {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/dsx-io-test-XXXXXX";
    const char* p = mkdtemp(tmpl);
    if (!p) throw std::runtime_error("mkdtemp failed");
    path_ = p;
  }
  ~TempDir() {
    for (const std::string& f : list()) ::unlink((path_ + "/" + f).c_str());
    ::rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }
  std::vector<std::string> list() const {
    std::vector<std::string> out;
    if (DIR* d = ::opendir(path_.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") out.push_back(n);
      }
      ::closedir(d);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::string path_;
};

// Deterministic bytes for a tensor: depend on the name and the position only.
std::vector<uint8_t> pattern(const TensorSpec& t) {
  std::vector<uint8_t> b(t.nbytes());
  uint32_t h = 2166136261u;
  for (char c : t.name) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>((h >> (i % 24)) + i * 131);
  return b;
}

// Odd sizes and mixed element widths, so packing and alignment are exercised.
std::vector<TensorSpec> sample_specs() {
  return {
      {"model.embed_tokens.weight", DType::BF16, {7, 5}},
      {"a.f8", DType::F8_E4M3, {3, 3}},
      {"a.f8_scale_inv", DType::F32, {1, 1}},
      {"b.f32", DType::F32, {3}},
      {"c.i64", DType::I64, {2}},
      {"d.empty", DType::F32, {0, 4}},
      {"e.bf16", DType::BF16, {33}},
      {"f.scalar", DType::F32, {}},
  };
}

void write_all(SafeTensorsWriter& w, const std::vector<TensorSpec>& specs) {
  // Reverse order, in two pieces each: the writer places bytes by offset, not by arrival.
  for (auto it = specs.rbegin(); it != specs.rend(); ++it) {
    const std::vector<uint8_t> b = pattern(*it);
    const size_t half = b.size() / 2;
    w.write(it->name, b.data() + half, b.size() - half, half);
    w.write(it->name, b.data(), half, 0);
  }
}

void expect_round_trip(const SafeTensors& st, const std::vector<TensorSpec>& specs) {
  EXPECT_EQ(st.names().size(), specs.size());
  for (const TensorSpec& t : specs) {
    SCOPED_TRACE(t.name);
    const TensorInfo& info = st.get(t.name);
    EXPECT_EQ(info.dtype, t.dtype);
    EXPECT_EQ(info.shape, t.shape);
    ASSERT_EQ(info.nbytes, t.nbytes());
    const std::vector<uint8_t> b = pattern(t);
    if (!b.empty()) {
      EXPECT_EQ(std::memcmp(info.data, b.data(), b.size()), 0);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(info.data) % dtype_size(t.dtype), 0u)
          << "not aligned to its element size";
    }
  }
}

uint64_t header_length(const std::string& path) {
  MappedFile f(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | f.data()[i];
  return n;
}

TEST(SafeTensorsWriter, SingleFileRoundTrip) {
  TempDir dir;
  const auto specs = sample_specs();
  {
    SafeTensorsWriter w(dir.path(), specs);
    EXPECT_EQ(w.files(), std::vector<std::string>{"model.safetensors"});
    uint64_t total = 0;
    for (auto& t : specs) total += t.nbytes();
    EXPECT_EQ(w.total_bytes(), total);
    write_all(w, specs);
    w.finish();
  }
  EXPECT_EQ(dir.list(), std::vector<std::string>{"model.safetensors"});
  EXPECT_EQ((8 + header_length(dir.path() + "/model.safetensors")) % 8, 0u);
  expect_round_trip(SafeTensors::open_dir(dir.path()), specs);
  expect_round_trip(SafeTensors::open_file(dir.path() + "/model.safetensors"), specs);
  // Read into memory instead of mapped: the same tensors, byte for byte.
  const SafeTensors copied = SafeTensors::open_dir(dir.path(), LoadMode::Copy);
  EXPECT_TRUE(copied.copied());
  expect_round_trip(copied, specs);
  EXPECT_FALSE(SafeTensors::open_dir(dir.path(), LoadMode::Map).copied());
}

// A copy is writable in place (for the loader to rearrange) until sealed; a mapping never is.
TEST(SafeTensorsWriter, CopiesAreWritableUntilSealed) {
  TempDir dir;
  const std::vector<TensorSpec> specs = {{"a", DType::F32, {4, 8}}, {"b", DType::BF16, {3}}};
  {
    SafeTensorsWriter w(dir.path(), specs);
    write_all(w, specs);
    w.finish();
  }
  SafeTensors copied = SafeTensors::open_dir(dir.path(), LoadMode::Copy);
  const TensorInfo& a = copied.get("a");
  void* p = copied.writable(a.data, a.nbytes);
  ASSERT_EQ(p, a.data);
  static_cast<float*>(p)[3] = 42.0f;
  EXPECT_EQ(static_cast<const float*>(a.data)[3], 42.0f);
  const uint8_t* bytes = static_cast<const uint8_t*>(a.data);
  EXPECT_EQ(copied.writable(bytes + 1, a.nbytes), bytes + 1);
  EXPECT_EQ(copied.writable(bytes, size_t{1} << 40), nullptr);  // past the file
  int outside = 0;
  EXPECT_EQ(copied.writable(&outside, sizeof outside), nullptr);
  copied.seal();
  EXPECT_EQ(copied.writable(a.data, a.nbytes), nullptr);
  EXPECT_EQ(static_cast<const float*>(a.data)[3], 42.0f);  // still readable

  SafeTensors mapped = SafeTensors::open_dir(dir.path(), LoadMode::Map);
  EXPECT_EQ(mapped.writable(mapped.get("a").data, 4), nullptr);
}

TEST(LoadMode, ParsesNamesAndRejectsOthers) {
  EXPECT_EQ(parse_load_mode("auto"), LoadMode::Auto);
  EXPECT_EQ(parse_load_mode("map"), LoadMode::Map);
  EXPECT_EQ(parse_load_mode("copy"), LoadMode::Copy);
  try {
    parse_load_mode("mmap");
    FAIL() << "accepted 'mmap'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'mmap'"), std::string::npos) << e.what();
  }
}

TEST(SafeTensorsWriter, ShardedRoundTrip) {
  TempDir dir;
  const auto specs = sample_specs();
  // 40 bytes a shard: the 70-byte embedding gets a shard of its own; the rest fill in order.
  {
    SafeTensorsWriter w(dir.path(), specs, 40);
    ASSERT_GT(w.files().size(), 2u);
    for (const std::string& f : w.files()) EXPECT_EQ(f.find("model-0000"), 0u) << f;
    write_all(w, specs);
    w.finish();
  }
  const auto files = dir.list();
  EXPECT_NE(std::find(files.begin(), files.end(), "model.safetensors.index.json"), files.end());
  const nlohmann::json index = read_json_file(dir.path() + "/model.safetensors.index.json");
  EXPECT_EQ(index["weight_map"].size(), specs.size());
  uint64_t total = 0;
  for (auto& t : specs) total += t.nbytes();
  EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), total);
  for (const std::string& f : files) {
    if (f.size() > 12 && f.compare(f.size() - 12, 12, ".safetensors") == 0) {
      EXPECT_EQ((8 + header_length(dir.path() + "/" + f)) % 8, 0u) << f;
      MappedFile mf(dir.path() + "/" + f);
      // A shard holds more than 40 bytes of data only when it is a single tensor.
      const uint64_t data = mf.size() - 8 - header_length(dir.path() + "/" + f);
      if (data > 40) {
        SafeTensors one = SafeTensors::open_file(dir.path() + "/" + f);
        EXPECT_EQ(one.names().size(), 1u) << f;
      }
    }
  }
  expect_round_trip(SafeTensors::open_dir(dir.path()), specs);
}

TEST(SafeTensorsWriter, ShardLimitLargerThanAllGivesOneFile) {
  TempDir dir;
  const auto specs = sample_specs();
  SafeTensorsWriter w(dir.path(), specs, uint64_t{2} << 30);
  write_all(w, specs);
  w.finish();
  EXPECT_EQ(dir.list(), std::vector<std::string>{"model.safetensors"});
}

TEST(SafeTensorsWriter, IncompleteWriteFailsAndLeavesNothing) {
  TempDir dir;
  const auto specs = sample_specs();
  {
    SafeTensorsWriter w(dir.path(), specs, 40);
    const auto b = pattern(specs[0]);
    w.write(specs[0].name, b.data(), b.size() - 1);
    try {
      w.finish();
      FAIL() << "finish() accepted a short tensor";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("model.embed_tokens.weight"), std::string::npos)
          << e.what();
    }
  }
  EXPECT_TRUE(dir.list().empty());
}

TEST(SafeTensorsWriter, MisuseIsAnError) {
  TempDir dir;
  EXPECT_THROW(SafeTensorsWriter(dir.path(), {}), Error);
  EXPECT_THROW(SafeTensorsWriter(dir.path(), {{"x", DType::F32, {1}}, {"x", DType::F32, {2}}}),
               Error);
  EXPECT_THROW(SafeTensorsWriter(dir.path() + "/missing", {{"x", DType::F32, {1}}}), Error);
  SafeTensorsWriter w(dir.path(), {{"x", DType::F32, {2}}});
  const float v[3] = {1, 2, 3};
  EXPECT_THROW(w.write("y", v, 4), Error);
  EXPECT_THROW(w.write("x", v, 12), Error);    // past the end
  EXPECT_THROW(w.write("x", v, 4, 8), Error);  // starts at the end
  w.write("x", v, 8);
  w.finish();
  const SafeTensors st = SafeTensors::open_dir(dir.path());
  EXPECT_EQ(static_cast<const float*>(st.get("x").data)[1], 2.0f);
}

}  // namespace
}  // namespace dsx
