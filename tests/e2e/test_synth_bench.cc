// dsx synth and dsx bench end to end: a synthesized checkpoint (bf16 and fp8) loads, generates and
// benchmarks; the same seed gives the same bytes; the fp8 file dequantizes to the bf16 one within
// e4m3's precision; bad input exits 2 with one line. No timing is asserted.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "io/io.h"
#include "model/model.h"

namespace dsx::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kTinyConfig = std::string(DSX_TEST_DATA) + "/synth-tiny.json";

std::string synth(const TempDir& dir, const std::string& name, const std::string& flags) {
  const std::string out = dir / name;
  const CliResult r = run_cli("synth --config " + kTinyConfig + " " + flags + " --out " + out);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "") << "progress must stay off a non-terminal";
  return out;
}

int count_lines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

// The linear layers DeepSeek stores in fp8: every *_proj.weight, kv_a_proj_with_mqa included.
bool is_proj(const std::string& name) {
  for (const std::string suffix : {"_proj.weight", "_proj_with_mqa.weight"})
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return true;
  return false;
}

class SynthBench : public ::testing::TestWithParam<std::string> {};

TEST_P(SynthBench, LoadsGeneratesAndBenchmarks) {
  const std::string dtype = GetParam();
  TempDir dir;
  const std::string model = synth(dir, "m", "--dtype " + dtype + " --seed 7");

  // The checkpoint: what ModelWeights::load binds, in the official names and types.
  const ModelConfig c = ModelConfig::load(model);
  EXPECT_EQ(c.fp8, dtype == "fp8");
  EXPECT_EQ(c.num_hidden_layers, 2);
  const SafeTensors st = SafeTensors::open_dir(model);
  EXPECT_NO_THROW(ModelWeights::load(c, st));
  for (const std::string& name : st.names()) {
    const TensorInfo& t = st.get(name);
    if (is_proj(name)) {
      EXPECT_EQ(t.dtype, dtype == "fp8" ? DType::F8_E4M3 : DType::BF16) << name;
    } else if (name.find("_scale_inv") != std::string::npos) {
      EXPECT_EQ(dtype, "fp8") << name;
      EXPECT_EQ(t.dtype, DType::F32) << name;
    } else if (name.find("e_score_correction_bias") != std::string::npos) {
      EXPECT_EQ(t.dtype, DType::F32) << name;
    } else {
      EXPECT_EQ(t.dtype, DType::BF16) << name;
    }
  }
  EXPECT_NE(st.find("model.layers.1.mlp.gate.e_score_correction_bias"), nullptr);
  EXPECT_NE(st.find("model.layers.2.eh_proj.weight"), nullptr);  // the MTP layer
  EXPECT_NE(st.find("model.layers.2.shared_head.head.weight"), nullptr);

  // Values in range: a [hidden, in] matrix has std ~ 1/sqrt(in); norms near 1.
  {
    WeightView w;
    const TensorInfo& t = st.get("model.layers.0.self_attn.o_proj.weight");
    w.type = t.dtype;
    w.data = t.data;
    w.rows = t.shape[0];
    w.cols = t.shape[1];
    if (const TensorInfo* s = st.find("model.layers.0.self_attn.o_proj.weight_scale_inv")) {
      w.block_scale = static_cast<const float*>(s->data);
      w.block = c.fp8_block;
    }
    double sum2 = 0;
    for (int64_t r = 0; r < w.rows; ++r)
      for (int64_t k = 0; k < w.cols; ++k) sum2 += static_cast<double>(w.at(r, k)) * w.at(r, k);
    const double std = std::sqrt(sum2 / static_cast<double>(w.rows * w.cols));
    EXPECT_NEAR(std, 1.0 / std::sqrt(static_cast<double>(w.cols)),
                0.1 / std::sqrt(static_cast<double>(w.cols)));
    const TensorInfo& n = st.get("model.norm.weight");
    for (int64_t i = 0; i < n.numel(); ++i) {
      const float v = bf16_to_f32(static_cast<const uint16_t*>(n.data)[i]);
      EXPECT_TRUE(v > 0.9f && v < 1.1f) << v;
    }
  }

  // generate: n ids within the vocabulary.
  const CliResult g = run_cli("generate -m " + model + " --prompt-ids 1,2,3,4 -n 6 -t 1");
  ASSERT_EQ(g.code, 0) << g.err;
  int ids = 0;
  std::stringstream in(g.out);
  for (std::string item; std::getline(in, item, ',');) {
    const int id = std::stoi(item);
    EXPECT_TRUE(id >= 0 && id < c.vocab_size) << id;
    ++ids;
  }
  EXPECT_EQ(ids, 6);

  // bench --json: one object with every figure, self-consistent.
  const CliResult b = run_cli("bench -m " + model + " -p 16 -n 4 -t 1 --json");
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(count_lines(b.out), 1) << b.out;
  const json j = json::parse(b.out);
  EXPECT_EQ(j["model"]["layers"], 2);
  EXPECT_EQ(j["model"]["mtp_layers"], 1);
  EXPECT_EQ(j["model"]["hidden"], 192);
  EXPECT_EQ(j["model"]["experts"], 8);
  EXPECT_EQ(j["model"]["experts_per_tok"], 2);
  EXPECT_EQ(j["model"]["vocab"], 512);
  EXPECT_EQ(j["model"]["weight_dtype"], dtype == "fp8" ? "fp8_e4m3" : "bf16");
  EXPECT_EQ(j["model"]["head_dtype"], "bf16");
  double params = 0;
  for (const std::string& name : st.names())
    if (name.find("_scale_inv") == std::string::npos)
      params += static_cast<double>(st.get(name).numel());
  EXPECT_EQ(j["model"]["params"].get<double>(), params);
  EXPECT_EQ(j["threads"], 1);
  EXPECT_EQ(j["machine"]["threads"], 1);
  EXPECT_EQ(j["prompt_tokens"], 16);
  EXPECT_EQ(j["decode_tokens"], 4);
  EXPECT_EQ(j["context"], 20);
  EXPECT_GT(j["machine"]["read_bandwidth_gbs"].get<double>(), 0.0);
  EXPECT_GT(j["machine"]["fma_peak_gflops"].get<double>(), 0.0);
  for (const char* phase : {"prefill", "decode"}) {
    SCOPED_TRACE(phase);
    EXPECT_GT(j[phase]["tokens_per_s"].get<double>(), 0.0);
    EXPECT_GT(j[phase]["seconds"].get<double>(), 0.0);
  }
  // The shares are the reported rates over the measured limits. No bound on their size: both
  // sides are timings on a shared machine (a CI run measured the FMA peak while a concurrent
  // test held the core and got a share of 2.03), AMX and bf16 dot products exceed the fp32 FMA
  // peak, and a tiny model decodes from cache. Speed goals live in the benchmarks.
  const double peak = j["machine"]["fma_peak_gflops"].get<double>();
  const double bw = j["machine"]["read_bandwidth_gbs"].get<double>();
  const double share_f = j["prefill"]["share_of_flop_peak"].get<double>();
  const double share_b = j["decode"]["share_of_bandwidth"].get<double>();
  EXPECT_GT(share_f, 0.0);
  EXPECT_GT(share_b, 0.0);
  const double prefill_gflops = j["prefill"]["tokens_per_s"].get<double>() *
                                j["prefill"]["flops_per_token"].get<double>() / 1e9;
  const double decode_gbs = j["decode"]["tokens_per_s"].get<double>() *
                            j["decode"]["bytes_per_token"].get<double>() / 1e9;
  EXPECT_NEAR(j["prefill"]["gflops"].get<double>(), prefill_gflops, 1e-9 * prefill_gflops);
  EXPECT_NEAR(share_f, prefill_gflops / peak, 1e-9 * share_f);
  EXPECT_NEAR(j["decode"]["gbs"].get<double>(), decode_gbs, 1e-9 * decode_gbs);
  EXPECT_NEAR(share_b, decode_gbs / bw, 1e-9 * share_b);
  // Prefill FLOPs: at least 2 x the attention projections, at most 2 x every parameter plus
  // attention over 16 positions.
  const double flops = j["prefill"]["flops_per_token"].get<double>();
  EXPECT_GT(flops, 2.0 * 192 * (96 + 80 + 128));
  EXPECT_LT(flops, 2.0 * params);
  // Decode bytes: the weights (at least the head) plus the cache read, less than the file.
  const double wbytes = j["decode"]["weight_bytes_per_token"].get<double>();
  const double kv_read = j["decode"]["kv_bytes_read_per_token"].get<double>();
  EXPECT_GT(wbytes, 512.0 * 192 * 2);
  EXPECT_LT(wbytes, j["model"]["file_bytes"].get<double>());
  EXPECT_DOUBLE_EQ(kv_read, 2 * 80 * 4 * j["decode"]["mean_context"].get<double>());
  EXPECT_DOUBLE_EQ(j["decode"]["bytes_per_token"].get<double>(), wbytes + kv_read);
  EXPECT_EQ(j["decode"]["routed_experts_per_layer"], 2);
  EXPECT_GT(j["memory"]["peak_rss_bytes"].get<double>(), 0.0);
  EXPECT_EQ(j["memory"]["kv_cache_bytes_per_token"].get<double>(), 3 * 80 * 4);  // 2 + 1 MTP layers
  EXPECT_FALSE(j.contains("batch_decode"));  // only with --batch

  // bench --batch: 3 sequences of 5 prompt tokens decode 3 steps together.
  const CliResult bb =
      run_cli("bench -m " + model + " -p 8 -n 3 -t 1 --batch 3 --batch-prompt 5 --json");
  ASSERT_EQ(bb.code, 0) << bb.err;
  const json jb = json::parse(bb.out)["batch_decode"];
  EXPECT_EQ(jb["sequences"], 3);
  EXPECT_EQ(jb["prompt_tokens"], 5);
  EXPECT_EQ(jb["steps"], 3);
  EXPECT_GT(jb["tokens_per_s"].get<double>(), 0.0);
  EXPECT_NEAR(jb["ms_per_step"].get<double>(), 3 * 1e3 / jb["tokens_per_s"].get<double>(), 1e-6);
  EXPECT_DOUBLE_EQ(jb["mean_context"].get<double>(), 5 + 2.0);
  EXPECT_EQ(jb["routed_experts_per_layer_bound"].get<double>(), 6);  // min(8, 3 x 2)
  const double seen = jb["last_layer_experts_seen"].get<double>();
  EXPECT_TRUE(seen >= 2 && seen <= 6) << seen;
  const double bw_bytes = jb["weight_bytes_per_step"].get<double>();
  const double bkv = jb["kv_bytes_read_per_step"].get<double>();
  EXPECT_GT(bw_bytes, wbytes);  // more routed experts and embedding rows than one token reads
  EXPECT_LT(bw_bytes, j["model"]["file_bytes"].get<double>());
  EXPECT_DOUBLE_EQ(bkv, 3 * 2 * 80 * 4 * 7.0);
  EXPECT_DOUBLE_EQ(jb["bytes_per_step"].get<double>(), bw_bytes + bkv);
  EXPECT_GT(jb["flops_per_step"].get<double>(), 3 * 2.0 * 512 * 192);  // every row's logits
  const CliResult bt = run_cli("bench -m " + model + " -p 8 -n 2 -t 1 -b 2 --batch-prompt 4");
  ASSERT_EQ(bt.code, 0) << bt.err;
  EXPECT_NE(bt.out.find("batch    2 sequences x 2 steps"), std::string::npos) << bt.out;

  // The text form has the same sections.
  const CliResult t = run_cli("bench -m " + model + " -p 8 -n 2 -t 1");
  ASSERT_EQ(t.code, 0) << t.err;
  for (const char* word : {"model ", "machine ", "prefill ", "decode ", "memory ", "GB/s",
                           "GFLOP/s", "peak RSS", "KV cache"})
    EXPECT_NE(t.out.find(word), std::string::npos) << word << "\n" << t.out;
}

INSTANTIATE_TEST_SUITE_P(Dtypes, SynthBench, ::testing::Values("bf16", "fp8"));

TEST(Synth, SameSeedSameFilesAnyThreads) {
  TempDir dir;
  const std::string a = synth(dir, "a", "--dtype fp8 --seed 5 -t 1");
  const std::string b = synth(dir, "b", "--dtype fp8 --seed 5 -t 3");
  const std::string c = synth(dir, "c", "--dtype fp8 --seed 6 -t 1");
  EXPECT_EQ(read_text(a + "/config.json"), read_text(b + "/config.json"));
  EXPECT_TRUE(read_text(a + "/model.safetensors") == read_text(b + "/model.safetensors"));
  EXPECT_FALSE(read_text(a + "/model.safetensors") == read_text(c + "/model.safetensors"));
}

// fp8 with its block scales dequantizes to the same seed's bf16 weights within e4m3's precision:
// 3 mantissa bits round to within 2^-4 relative for normals; subnormals (below 2^-6 x scale) to
// within 2^-10 x scale absolute; bf16's own rounding adds 2^-9 relative.
TEST(Synth, Fp8DequantizesToTheBf16Weights) {
  TempDir dir;
  const std::string b = synth(dir, "b", "--dtype bf16 --seed 9");
  const std::string f = synth(dir, "f", "--dtype fp8 --seed 9");
  const SafeTensors sb = SafeTensors::open_dir(b), sf = SafeTensors::open_dir(f);
  int checked = 0;
  for (const std::string& name : sf.names()) {
    const TensorInfo& q = sf.get(name);
    if (q.dtype != DType::F8_E4M3) continue;
    const TensorInfo& s = sf.get(name + "_scale_inv");
    const TensorInfo& ref = sb.get(name);
    ASSERT_EQ(ref.shape, q.shape);
    const int64_t rows = q.shape[0], cols = q.shape[1], nb = s.shape[1];
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t k = 0; k < cols; ++k) {
        const float scale = static_cast<const float*>(s.data)[(r / 128) * nb + k / 128];
        const float deq =
            fp8_e4m3_to_f32(static_cast<const uint8_t*>(q.data)[r * cols + k]) * scale;
        const float want = bf16_to_f32(static_cast<const uint16_t*>(ref.data)[r * cols + k]);
        const float tol = std::fabs(want) * (0.0625f + 0.0035f) + scale * 0.001f;
        ASSERT_LE(std::fabs(deq - want), tol) << name << " [" << r << ", " << k << "]";
      }
    }
    ++checked;
  }
  EXPECT_GT(checked, 20);
}

TEST(Synth, ShardsLoadAndGiveTheSameTokens) {
  TempDir dir;
  const std::string one = synth(dir, "one", "--seed 2");
  const std::string many = synth(dir, "many", "--seed 2 --shard-mb 1");
  EXPECT_TRUE(fs::exists(many + "/model.safetensors.index.json"));
  int shards = 0;
  for (const auto& e : fs::directory_iterator(many)) {
    if (e.path().extension() != ".safetensors") continue;
    ++shards;
    EXPECT_LE(fs::file_size(e.path()), (uint64_t{1} << 20) + 65536) << e.path();  // data + header
  }
  EXPECT_GE(shards, 3);
  const CliResult a = run_cli("generate -m " + one + " --prompt-ids 5,6,7 -n 5 -t 1");
  const CliResult b = run_cli("generate -m " + many + " --prompt-ids 5,6,7 -n 5 -t 1");
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
}

// --like presets: the released shapes, checked by their published parameter counts without
// writing tens of gigabytes.
TEST(Synth, PresetsHaveTheReleasedShapes) {
  const CliResult v2 = run_cli("synth --like deepseek-v2-lite --dry-run");
  ASSERT_EQ(v2.code, 0) << v2.err;
  const json a = json::parse(v2.out);
  EXPECT_EQ(a["config"]["num_hidden_layers"], 27);
  EXPECT_EQ(a["config"]["n_routed_experts"], 64);
  EXPECT_EQ(a["dtype"], "bf16");
  EXPECT_NEAR(a["params"].get<double>() / 1e9, 15.7, 0.1);  // DeepSeek-V2-Lite: 15.7B

  const CliResult v3 = run_cli("synth --like deepseek-v3 --dry-run");
  ASSERT_EQ(v3.code, 0) << v3.err;
  const json b = json::parse(v3.out);
  EXPECT_EQ(b["dtype"], "fp8");
  EXPECT_NEAR(b["params"].get<double>() / 1e9, 684.5, 1.0);  // 671B + the 14B MTP module
  EXPECT_GE(b["files"].get<int>(), 300);                     // <= 2 GiB each

  // Shrunk: routing fields follow --experts; at least one MoE layer stays.
  const CliResult s =
      run_cli("synth --like deepseek-v3 --layers 2 --experts 8 --dtype bf16 --dry-run");
  ASSERT_EQ(s.code, 0) << s.err;
  const json k = json::parse(s.out)["config"];
  EXPECT_EQ(k["num_hidden_layers"], 2);
  EXPECT_EQ(k["first_k_dense_replace"], 1);
  EXPECT_EQ(k["n_routed_experts"], 8);
  EXPECT_LE(k["num_experts_per_tok"].get<int>(), 8);
  EXPECT_EQ(8 % k["n_group"].get<int>(), 0);
  EXPECT_FALSE(k.contains("quantization_config"));
}

TEST(Synth, BadInputExitsTwoWithOneLine) {
  TempDir dir;
  auto expect_bad = [&](const std::string& args, const std::string& needle) {
    SCOPED_TRACE(args);
    const CliResult r = run_cli(args);
    EXPECT_EQ(r.code, 2);
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  };
  expect_bad("synth --config " + (dir / "missing.json") + " --out " + (dir / "o"), "missing.json");
  std::ofstream(dir / "broken.json") << "{\"model_type\": ";
  expect_bad("synth --config " + (dir / "broken.json") + " --out " + (dir / "o"), "broken.json");
  json j = json::parse(read_text(kTinyConfig));
  j.erase("hidden_size");
  std::ofstream(dir / "nohidden.json") << j.dump();
  expect_bad("synth --config " + (dir / "nohidden.json") + " --out " + (dir / "o"), "hidden_size");
  expect_bad("synth --like deepseek-v9 --out " + (dir / "o"), "deepseek-v9");
  expect_bad("synth --out " + (dir / "o"), "--config");
  {  // a CLI11 parse error: exit 2 (its usage hint may add a line)
    const CliResult r =
        run_cli("synth --config " + kTinyConfig + " --dtype int4 --out " + (dir / "o"));
    EXPECT_EQ(r.code, 2);
    EXPECT_NE(r.err.find("--dtype"), std::string::npos) << r.err;
  }
  expect_bad("bench -m " + (dir / "nothing"), "nothing");
  EXPECT_FALSE(fs::exists(dir / "o"));
}

}  // namespace
}  // namespace dsx::test
