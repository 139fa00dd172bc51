// The engine against Hugging Face transformers' outputs (models/*/reference.safetensors), through
// `dsx verify`: logits, every hidden state and MTP logits of each prompt in one full pass and
// token by token through the latent cache, and greedy continuations token for token.
#include <gtest/gtest.h>

#include <cstring>

#include "cli.h"
#include "engine/engine.h"

namespace dsx::test {
namespace {

const std::string kModels = DSX_MODELS_DIR;

void expect_verify_passes(const std::string& model, const std::string& extra) {
  for (int threads : {1, 2}) {
    const std::string dir = kModels + "/" + model;
    CliResult r = run_cli("verify -m " + dir + " -r " + dir + "/reference.safetensors -t " +
                          std::to_string(threads) + " " + extra);
    EXPECT_EQ(r.code, 0) << model << " threads " << threads << "\n" << r.out << r.err;
    EXPECT_NE(r.out.find("PASS: 0 failed checks"), std::string::npos) << r.out;
  }
}

// Everything under 1e-4, greedy exact.
TEST(Golden, TinyV2Lite) {
  expect_verify_passes("tiny-v2-lite", "--tol 1e-4");
}

// Main model: logits and hidden states under 1e-4, greedy exact. MTP logits: the fixture's
// reference ran its MTP layer with norm weights 1 + r held in float64 (make_goldens.py,
// add_mtp_layer: `1.0 + rnd(...)` is not a bf16 value) while the checkpoint stores them rounded to
// bf16, a relative change of up to 2^-9 per weight. No engine running the stored weights can get
// closer than that rounding: perturbing those three norms by a random half-ulp moves our MTP
// logits by 3.6e-3 relative, the same size as the 2.5e-3 we measure against the reference. So
// MTP logits are held to 5e-3, the bound that rounding sets.
TEST(Golden, TinyV3) {
  expect_verify_passes("tiny-v3", "--tol 1e-4 --mtp-tol 5e-3");
}

// FP8 (DeepSeek-V3's official block format, weight-only dequantisation). As above for MTP, and
// one more defect of the fixture: its e_score_correction_bias was rounded to bf16 before saving
// (all 16 values of every layer are bf16-exact, unlike tiny-v3's) while the reference routed with
// the float64 bias. That moves choice scores by up to ~5e-4; position 117 of prompt 3 has a
// routing margin of ~1.2e-4 in layer 1, so it picks another expert, and through attention the
// positions after it (117..129, 13 rows) differ. Every other row stays under 1e-4 (5.4e-7), and
// --max-bad-rows names the rows it excuses.
TEST(Golden, TinyV3Fp8) {
  expect_verify_passes("tiny-v3-fp8", "--tol 1e-4 --mtp-tol 5e-3 --max-bad-rows 13");
}

// A trained model (bundled, sharded checkpoint): logits 1e-4, 48-token greedy continuations exact.
TEST(Golden, DemoCoder) {
  expect_verify_passes("demo-coder", "--tol 1e-4");
}

// Logits do not depend on the thread count: bit-identical for 1, 2 and 4 threads, through the
// prefill path and the token-by-token path.
TEST(Golden, LogitsBitIdenticalAcrossThreadCounts) {
  for (const char* name : {"tiny-v3", "tiny-v3-fp8", "tiny-v2-lite"}) {
    std::shared_ptr<const Model> model = Model::load(kModels + "/" + name);
    std::vector<int32_t> prompt;
    for (int i = 0; i < 70; ++i) prompt.push_back((i * 7919 + 13) % 1000 + 3);
    std::vector<std::vector<float>> prefill, stepwise;
    for (int threads : {1, 2, 4}) {
      EngineOptions o;
      o.threads = threads;
      o.ctx_size = 128;
      o.prefill_chunk = 32;
      o.max_sequences = 2;
      Runner runner(model, o);
      const int32_t seq = runner.new_sequence();
      std::span<const float> all = runner.append_all_logits(seq, prompt);
      prefill.emplace_back(all.begin(), all.end());
      const int32_t seq2 = runner.new_sequence();
      std::vector<float> steps;
      for (int32_t t : prompt) {
        std::span<const float> l = runner.append(seq2, std::span<const int32_t>(&t, 1));
        steps.insert(steps.end(), l.begin(), l.end());
      }
      stepwise.push_back(steps);
    }
    for (size_t i = 1; i < prefill.size(); ++i) {
      ASSERT_EQ(prefill[i].size(), prefill[0].size());
      EXPECT_EQ(std::memcmp(prefill[i].data(), prefill[0].data(), prefill[0].size() * 4), 0)
          << name;
      EXPECT_EQ(std::memcmp(stepwise[i].data(), stepwise[0].data(), stepwise[0].size() * 4), 0)
          << name;
    }
    // Prefill and token-by-token agree to float32 rounding (the same ops in another grouping).
    double diff = 0, norm = 0;
    for (size_t k = 0; k < prefill[0].size(); ++k) {
      diff += (prefill[0][k] - stepwise[0][k]) * double(prefill[0][k] - stepwise[0][k]);
      norm += prefill[0][k] * double(prefill[0][k]);
    }
    EXPECT_LT(std::sqrt(diff / norm), 1e-6) << name;
  }
}

// Weights read into memory are rewritten in the interleaved layout (the tile layout where AMX
// multiplies them); mapped ones stay row-major. Either way the logits are the same bits, through
// prefill and token by token.
TEST(Golden, CopiedAndMappedWeightsGiveTheSameBits) {
  for (const char* name : {"tiny-v3", "tiny-v3-fp8", "tiny-v2-lite"}) {
    std::vector<std::vector<float>> logits;
    for (LoadMode mode : {LoadMode::Map, LoadMode::Copy}) {
      std::shared_ptr<const Model> model = Model::load(kModels + "/" + name, mode);
      const ModelWeights& w = model->weights();
      const bool copy = mode == LoadMode::Copy;
      const bool amx = kernels::best_backend() == kernels::Backend::Amx;
      for (const WeightView* v : {&w.lm_head, &w.layers.back().attn.o}) {
        EXPECT_EQ(v->interleaved, copy && !amx) << name;
        EXPECT_EQ(v->tiled, copy && amx) << name;
      }
      EXPECT_FALSE(w.embed.interleaved || w.embed.tiled) << name;
      std::vector<int32_t> prompt;
      for (int i = 0; i < 40; ++i) prompt.push_back((i * 7919 + 13) % 1000 + 3);
      EngineOptions o;
      o.threads = 2;
      o.ctx_size = 64;
      o.max_sequences = 2;
      Runner runner(model, o);
      std::span<const float> all = runner.append_all_logits(runner.new_sequence(), prompt);
      logits.emplace_back(all.begin(), all.end());
      const int32_t seq = runner.new_sequence();
      for (int32_t t : prompt) {
        std::span<const float> l = runner.append(seq, std::span<const int32_t>(&t, 1));
        logits.back().insert(logits.back().end(), l.begin(), l.end());
      }
    }
    ASSERT_EQ(logits[0].size(), logits[1].size());
    EXPECT_EQ(std::memcmp(logits[0].data(), logits[1].data(), logits[0].size() * 4), 0) << name;
  }
}

TEST(Golden, GenerateMatchesReferenceGreedy) {
  // dsx generate prints the greedy continuation of --prompt-ids: tiny-v3 greedy0 from the
  // reference is 24 tokens after a 7-token prompt.
  SafeTensors ref = SafeTensors::open_file(kModels + "/tiny-v3/reference.safetensors");
  auto ids = [&](const char* name) {
    const TensorInfo& t = ref.get(name);
    const int32_t* p = static_cast<const int32_t*>(t.data);
    return std::vector<int32_t>(p, p + t.numel());
  };
  std::string prompt, want;
  for (int32_t id : ids("greedy0.prompt"))
    prompt += (prompt.empty() ? "" : ",") + std::to_string(id);
  for (int32_t id : ids("greedy0.output")) want += (want.empty() ? "" : ",") + std::to_string(id);
  CliResult r =
      run_cli("generate -m " + kModels + "/tiny-v3 --prompt-ids " + prompt + " -n 24 -t 2");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, want + "\n");
}

}  // namespace
}  // namespace dsx::test
