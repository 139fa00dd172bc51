// Corrupt or hostile checkpoints, configs and prompts: one line naming the file and the tensor or
// field, exit code 2, no crash (the sanitizer build runs these too).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "cli.h"

namespace dsx::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kTiny = std::string(DSX_MODELS_DIR) + "/tiny-v3";

// A copy of tiny-v3 whose safetensors header (and/or bytes) a test may rewrite.
class BrokenModel {
 public:
  BrokenModel() {
    fs::copy_file(kTiny + "/config.json", dir_ / "config.json");
    const std::string bytes = read_text(kTiny + "/model.safetensors");
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
    header_ = json::parse(bytes.substr(8, n));
    data_ = bytes.substr(8 + n);
    write();
  }
  std::string dir() const { return dir_.path(); }
  std::string weights() const { return dir_ / "model.safetensors"; }
  json& header() { return header_; }
  std::string& data() { return data_; }
  void write() {
    std::string h = header_.dump();
    std::ofstream out(weights(), std::ios::binary | std::ios::trunc);
    uint64_t n = h.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
    out << h << data_;
  }
  void edit_config(const std::function<void(json&)>& edit) {
    json c = json::parse(read_text(dir_ / "config.json"));
    edit(c);
    std::ofstream(dir_ / "config.json", std::ios::trunc) << c.dump(2);
  }

 private:
  TempDir dir_;
  json header_;
  std::string data_;
};

// Runs `dsx generate` on the model and expects exit 2 with one line naming every `needle`.
void expect_refused(const std::string& dir, std::initializer_list<std::string> needles,
                    const std::string& prompt = "5,17,300") {
  CliResult r = run_cli("generate -m " + dir + " --prompt-ids " + prompt + " -n 2 -t 1");
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  for (const std::string& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << "missing '" << n << "' in: " << r.err;
}

const char* kTensor = "model.layers.0.self_attn.kv_b_proj.weight";

TEST(BadInput, TruncatedFile) {
  BrokenModel m;
  m.data().resize(m.data().size() / 2);
  m.write();
  expect_refused(m.dir(), {"model.safetensors", "outside the data section"});
}

TEST(BadInput, FileShorterThanItsHeaderLength) {
  BrokenModel m;
  std::ofstream(m.weights(), std::ios::binary | std::ios::trunc) << std::string("\xff\xff\xff\x00\x00\x00\x00\x00{}", 10);
  expect_refused(m.dir(), {"model.safetensors", "header length"});
}

TEST(BadInput, TinyFile) {
  BrokenModel m;
  std::ofstream(m.weights(), std::ios::binary | std::ios::trunc) << "abc";
  expect_refused(m.dir(), {"model.safetensors", "too short"});
}

TEST(BadInput, HeaderThatIsNotJson) {
  BrokenModel m;
  std::ofstream out(m.weights(), std::ios::binary | std::ios::trunc);
  out << std::string("\x05\x00\x00\x00\x00\x00\x00\x00{not}", 13);
  out.close();
  expect_refused(m.dir(), {"model.safetensors", "malformed header JSON"});
}

TEST(BadInput, OffsetsOutsideTheFile) {
  BrokenModel m;
  m.header()[kTensor]["data_offsets"][1] = m.data().size() + 100;
  m.write();
  expect_refused(m.dir(), {"model.safetensors", kTensor, "outside the data section"});
}

TEST(BadInput, SizeThatDisagreesWithShape) {
  BrokenModel m;
  m.header()[kTensor]["shape"][0] = 7;
  m.write();
  expect_refused(m.dir(), {"model.safetensors", kTensor, "needs"});
}

TEST(BadInput, OverlappingTensors) {
  BrokenModel m;
  json& a = m.header()[kTensor];
  json& b = m.header()["model.layers.0.self_attn.o_proj.weight"];
  // Same size? Move b onto a's bytes only if sizes match; otherwise point b inside a.
  const uint64_t a0 = a["data_offsets"][0], a1 = a["data_offsets"][1];
  const uint64_t b_len = b["data_offsets"][1].get<uint64_t>() - b["data_offsets"][0].get<uint64_t>();
  ASSERT_LE(b_len, a1 - a0 + (m.data().size() - a1));
  b["data_offsets"] = {a0, a0 + b_len};
  m.write();
  expect_refused(m.dir(), {"model.safetensors", "overlap"});
}

TEST(BadInput, UnknownDtype) {
  BrokenModel m;
  m.header()[kTensor]["dtype"] = "Q4_WHAT";
  m.write();
  expect_refused(m.dir(), {"model.safetensors", kTensor, "unknown dtype 'Q4_WHAT'"});
}

TEST(BadInput, MissingTensor) {
  BrokenModel m;
  m.header().erase(kTensor);
  m.write();
  expect_refused(m.dir(), {kTensor, "missing"});
}

TEST(BadInput, MisshapenTensor) {
  BrokenModel m;
  // Same number of bytes, wrong shape: only the model's expectations can catch it.
  json& shape = m.header()[kTensor]["shape"];
  shape = {shape[1], shape[0]};
  m.write();
  expect_refused(m.dir(), {"model.safetensors", kTensor, "has shape [64, 256], expected [256, 64]"});
}

TEST(BadInput, WrongDtypeForAWeight) {
  BrokenModel m;
  json& t = m.header()[kTensor];
  t["dtype"] = "I16";  // same size as BF16
  m.write();
  expect_refused(m.dir(), {kTensor, "dtype I16"});
}

TEST(BadInput, MalformedConfig) {
  BrokenModel m;
  std::ofstream(m.dir() + "/config.json", std::ios::trunc) << "{\"model_type\": \"deepseek_v3\",";
  expect_refused(m.dir(), {"config.json", "malformed JSON"});
}

TEST(BadInput, MissingConfig) {
  BrokenModel m;
  fs::remove(m.dir() + "/config.json");
  expect_refused(m.dir(), {"config.json", "cannot open"});
}

TEST(BadInput, ConfigFieldOfTheWrongType) {
  BrokenModel m;
  m.edit_config([](json& c) { c["kv_lora_rank"] = "sixty-four"; });
  expect_refused(m.dir(), {"config.json", "kv_lora_rank", "integer"});
}

TEST(BadInput, ConfigContradictions) {
  {
    BrokenModel m;
    m.edit_config([](json& c) { c["topk_group"] = 9; });
    expect_refused(m.dir(), {"config.json", "topk_group", "exceeds n_group"});
  }
  {
    BrokenModel m;
    m.edit_config([](json& c) { c["num_experts_per_tok"] = 40; });
    expect_refused(m.dir(), {"config.json", "num_experts_per_tok"});
  }
  {
    BrokenModel m;
    m.edit_config([](json& c) { c["n_group"] = 3; });
    expect_refused(m.dir(), {"config.json", "n_group", "divide"});
  }
}

TEST(BadInput, UnsupportedConfigValues) {
  {
    BrokenModel m;
    m.edit_config([](json& c) { c["scoring_func"] = "tanh"; });
    expect_refused(m.dir(), {"config.json", "scoring_func", "'tanh'"});
  }
  {
    BrokenModel m;
    m.edit_config([](json& c) { c["topk_method"] = "random"; });
    expect_refused(m.dir(), {"config.json", "topk_method", "'random'"});
  }
  {
    BrokenModel m;
    m.edit_config([](json& c) { c["rope_scaling"]["type"] = "dynamic"; });
    expect_refused(m.dir(), {"config.json", "rope_scaling", "'dynamic'"});
  }
  {
    BrokenModel m;
    m.edit_config([](json& c) { c["model_type"] = "llama"; });
    expect_refused(m.dir(), {"config.json", "model_type", "'llama'"});
  }
  {
    BrokenModel m;
    m.edit_config([](json& c) { c["quantization_config"] = {{"quant_method", "gptq"}}; });
    expect_refused(m.dir(), {"config.json", "quant_method", "'gptq'"});
  }
}

TEST(BadInput, ConfigThatDisagreesWithTheWeights) {
  BrokenModel m;
  m.edit_config([](json& c) { c["hidden_size"] = 128; });
  expect_refused(m.dir(), {"model.safetensors", "has shape"});
}

TEST(BadInput, PromptIdsOutsideTheVocabulary) {
  expect_refused(kTiny, {"token id 1024", "vocabulary"}, "5,1024");
  expect_refused(kTiny, {"token id -3", "vocabulary"}, "5,-3");
  expect_refused(kTiny, {"--prompt-ids", "'x'"}, "5,x");
}

TEST(BadInput, ShardIndexNamingAMissingFile) {
  BrokenModel m;
  json index = {{"weight_map", {{kTensor, "model-00009-of-00009.safetensors"}}}};
  std::ofstream(m.dir() + "/model.safetensors.index.json") << index.dump();
  expect_refused(m.dir(), {"model-00009-of-00009.safetensors", "cannot open"});
}

TEST(BadInput, MissingModelFolder) { expect_refused("/nonexistent/model", {"/nonexistent/model"}); }

TEST(BadInput, VerifyWithAMismatchedReference) {
  CliResult r = run_cli("verify -m " + kTiny + " -r " + std::string(DSX_MODELS_DIR) +
                        "/demo-coder/reference.safetensors");
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("prompt0.logits"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace dsx::test
