// dsx synth: writes a checkpoint with random weights in a real model's shape — config.json plus
// safetensors under the original DeepSeek tensor names — so the engine can be benchmarked and
// tested on shapes whose real weights are too large to ship.
//
// Values: matrices uniform with std 1/sqrt(in) (so a matmul keeps activations near unit scale),
// the embeddings std 1, norms 1 +- 0.05, e_score_correction_bias +- 0.01. Each row is drawn from
// its own splitmix64 stream seeded by (seed, tensor name, row), so the files depend only on the
// seed and the config, never on the thread count. fp8: every *_proj.weight is quantised per
// 128x128 block (weight_block_size) to e4m3 with scale = amax / 448, stored as
// "<name>_scale_inv" (w = q * scale_inv), as DeepSeek ships V3.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <mutex>
#include <thread>

#include "commands.h"
#include "io/io.h"
#include "model/model.h"

namespace dsx::cli {

namespace {

using nlohmann::json;

// The released configs (Hugging Face deepseek-ai/DeepSeek-V2-Lite and deepseek-ai/DeepSeek-V3).
const char* kDeepSeekV2Lite = R"({
  "architectures": ["DeepseekV2ForCausalLM"],
  "attention_bias": false, "attention_dropout": 0.0, "aux_loss_alpha": 0.001,
  "bos_token_id": 100000, "eos_token_id": 100001,
  "first_k_dense_replace": 1, "hidden_act": "silu", "hidden_size": 2048,
  "initializer_range": 0.02, "intermediate_size": 10944, "kv_lora_rank": 512,
  "max_position_embeddings": 163840, "model_type": "deepseek_v2",
  "moe_intermediate_size": 1408, "moe_layer_freq": 1, "n_group": 1, "n_routed_experts": 64,
  "n_shared_experts": 2, "norm_topk_prob": false, "num_attention_heads": 16,
  "num_experts_per_tok": 6, "num_hidden_layers": 27, "num_key_value_heads": 16,
  "pretraining_tp": 1, "q_lora_rank": null, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
  "rms_norm_eps": 1e-06,
  "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 0.707,
                   "mscale_all_dim": 0.707, "original_max_position_embeddings": 4096,
                   "type": "yarn"},
  "rope_theta": 10000, "routed_scaling_factor": 1.0, "scoring_func": "softmax", "seq_aux": true,
  "tie_word_embeddings": false, "topk_group": 1, "topk_method": "greedy",
  "torch_dtype": "bfloat16", "use_cache": true, "v_head_dim": 128, "vocab_size": 102400
})";

const char* kDeepSeekV3 = R"({
  "architectures": ["DeepseekV3ForCausalLM"],
  "attention_bias": false, "attention_dropout": 0.0, "aux_loss_alpha": 0.001,
  "bos_token_id": 0, "eos_token_id": 1, "ep_size": 1,
  "first_k_dense_replace": 3, "hidden_act": "silu", "hidden_size": 7168,
  "initializer_range": 0.02, "intermediate_size": 18432, "kv_lora_rank": 512,
  "max_position_embeddings": 163840, "model_type": "deepseek_v3",
  "moe_intermediate_size": 2048, "moe_layer_freq": 1, "n_group": 8, "n_routed_experts": 256,
  "n_shared_experts": 1, "norm_topk_prob": true, "num_attention_heads": 128,
  "num_experts_per_tok": 8, "num_hidden_layers": 61, "num_key_value_heads": 128,
  "num_nextn_predict_layers": 1, "q_lora_rank": 1536, "qk_nope_head_dim": 128,
  "qk_rope_head_dim": 64,
  "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                          "weight_block_size": [128, 128]},
  "rms_norm_eps": 1e-06,
  "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0,
                   "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096,
                   "type": "yarn"},
  "rope_theta": 10000, "routed_scaling_factor": 2.5, "scoring_func": "sigmoid", "seq_aux": true,
  "tie_word_embeddings": false, "topk_group": 4, "topk_method": "noaux_tc",
  "torch_dtype": "bfloat16", "use_cache": true, "v_head_dim": 128, "vocab_size": 129280
})";

struct SynthArgs {
  std::string config;
  std::string like;
  std::string out;
  std::string dtype;  // "", "bf16" or "fp8"
  int64_t layers = -1;
  int64_t experts = -1;
  uint64_t seed = 0;
  int threads = 0;
  int64_t shard_mb = 2048;
  bool dry_run = false;
};

// ---- random numbers --------------------------------------------------------------------------

inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t hash_name(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// n values uniform in [center - half_width, center + half_width), from the stream of `row`.
void fill_row(uint64_t tensor_seed, int64_t row, float center, float half_width, float* out,
              int64_t n) {
  uint64_t state = tensor_seed ^ (static_cast<uint64_t>(row) * 0xD1B54A32D192ED03ull);
  splitmix64(state);
  const float k = half_width * (1.0f / 2147483648.0f);
  int64_t i = 0;
  for (; i + 1 < n; i += 2) {
    const uint64_t r = splitmix64(state);
    out[i] = center + k * static_cast<float>(static_cast<int32_t>(r));
    out[i + 1] = center + k * static_cast<float>(static_cast<int32_t>(r >> 32));
  }
  if (i < n) out[i] = center + k * static_cast<float>(static_cast<int32_t>(splitmix64(state)));
}

// f32 -> fp8 e4m3fn, round to nearest even, saturating to +-448, NaN -> 0x7f: bit-identical to
// dsx::f32_to_fp8_e4m3 (checked over every float32 bit pattern) without its table search, which
// made quantising a 600M-parameter model take half a minute of CPU.
inline uint8_t to_fp8(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80);
  const uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return 0x7f;          // NaN
  if (abs >= 0x43e00000u) return sign | 0x7e;  // >= 448: saturate
  if (abs >= 0x3c800000u) {                    // >= 2^-6: normal; round the mantissa to 3 bits
    const uint32_t r = abs + 0x7ffffu + ((abs >> 20) & 1u);
    const uint32_t code = (((r >> 23) - 120u) << 3) | ((r >> 20) & 7u);
    return sign | static_cast<uint8_t>(code > 0x7e ? 0x7e : code);
  }
  // Subnormal (multiples of 2^-9): adding 2^14, whose ulp is 2^-9, rounds to nearest even.
  float a;
  std::memcpy(&a, &abs, 4);
  const float y = a + 16384.0f;
  uint32_t yb;
  std::memcpy(&yb, &y, 4);
  return sign | static_cast<uint8_t>(yb - 0x46800000u);
}

// ---- what to write ---------------------------------------------------------------------------

enum class Init { Matrix, Embedding, Norm, Bias };

struct Tensor {
  std::string name;
  DType dtype;   // BF16, F8_E4M3 (then also name + "_scale_inv") or F32
  int64_t rows;  // 1 for vectors
  int64_t cols;
  bool vector;
  Init init;
  uint64_t seed;
};

class Plan {
 public:
  Plan(const ModelConfig& c, bool fp8, uint64_t seed) : c_(c), fp8_(fp8), seed_(seed) {
    const int64_t h = c.hidden_size, v = c.vocab_size;
    add("model.embed_tokens.weight", v, h, Init::Embedding, false);
    for (int64_t l = 0; l < c.num_hidden_layers + c.num_nextn_predict_layers; ++l) layer(l);
    add_vector("model.norm.weight", h, Init::Norm);
    add("lm_head.weight", v, h, Init::Matrix, false);
  }
  const std::vector<Tensor>& tensors() const { return tensors_; }

 private:
  void add(const std::string& name, int64_t rows, int64_t cols, Init init, bool quantizable) {
    const DType t = fp8_ && quantizable ? DType::F8_E4M3 : DType::BF16;
    tensors_.push_back({name, t, rows, cols, false, init, seed_for(name)});
  }
  void add_vector(const std::string& name, int64_t n, Init init, DType t = DType::BF16) {
    tensors_.push_back({name, t, 1, n, true, init, seed_for(name)});
  }
  uint64_t seed_for(const std::string& name) const {
    uint64_t s = seed_ ^ hash_name(name);
    return splitmix64(s);
  }
  void proj(const std::string& name, int64_t out, int64_t in) {
    add(name, out, in, Init::Matrix, true);
  }
  void mlp(const std::string& p, int64_t inter) {
    proj(p + "gate_proj.weight", inter, c_.hidden_size);
    proj(p + "up_proj.weight", inter, c_.hidden_size);
    proj(p + "down_proj.weight", c_.hidden_size, inter);
  }
  // The tensors ModelWeights::load binds for layer `index` (MTP layers add their own extras).
  void layer(int64_t index) {
    const std::string p = "model.layers." + std::to_string(index) + ".";
    const int64_t h = c_.hidden_size, heads = c_.num_attention_heads, v = c_.vocab_size;
    const bool mtp = index >= c_.num_hidden_layers;
    if (mtp) {  // as the official V3 checkpoint stores layer 61
      add(p + "embed_tokens.weight", v, h, Init::Embedding, false);
      add_vector(p + "enorm.weight", h, Init::Norm);
      add_vector(p + "hnorm.weight", h, Init::Norm);
      proj(p + "eh_proj.weight", h, 2 * h);
    }
    add_vector(p + "input_layernorm.weight", h, Init::Norm);
    const std::string a = p + "self_attn.";
    if (c_.q_lora_rank > 0) {
      proj(a + "q_a_proj.weight", c_.q_lora_rank, h);
      add_vector(a + "q_a_layernorm.weight", c_.q_lora_rank, Init::Norm);
      proj(a + "q_b_proj.weight", heads * c_.qk_head_dim(), c_.q_lora_rank);
    } else {
      proj(a + "q_proj.weight", heads * c_.qk_head_dim(), h);
    }
    proj(a + "kv_a_proj_with_mqa.weight", c_.kv_lora_rank + c_.qk_rope_head_dim, h);
    add_vector(a + "kv_a_layernorm.weight", c_.kv_lora_rank, Init::Norm);
    proj(a + "kv_b_proj.weight", heads * (c_.qk_nope_head_dim + c_.v_head_dim), c_.kv_lora_rank);
    proj(a + "o_proj.weight", h, heads * c_.v_head_dim);
    add_vector(p + "post_attention_layernorm.weight", h, Init::Norm);
    const std::string m = p + "mlp.";
    const bool moe = mtp ? c_.n_routed_experts > 0 : c_.is_moe_layer(index);
    if (!moe) {
      mlp(m, c_.intermediate_size);
    } else {
      add(m + "gate.weight", c_.n_routed_experts, h, Init::Matrix, false);
      if (c_.topk_method == TopkMethod::NoauxTc)
        add_vector(m + "gate.e_score_correction_bias", c_.n_routed_experts, Init::Bias, DType::F32);
      for (int64_t e = 0; e < c_.n_routed_experts; ++e)
        mlp(m + "experts." + std::to_string(e) + ".", c_.moe_intermediate_size);
      if (c_.n_shared_experts > 0)
        mlp(m + "shared_experts.", c_.moe_intermediate_size * c_.n_shared_experts);
    }
    if (mtp) {
      add_vector(p + "shared_head.norm.weight", h, Init::Norm);
      add(p + "shared_head.head.weight", v, h, Init::Matrix, false);
    }
  }

  const ModelConfig& c_;
  bool fp8_;
  uint64_t seed_;
  std::vector<Tensor> tensors_;
};

// ---- generating ------------------------------------------------------------------------------

// A piece of work: rows [r0, r1) of one tensor (whole 128-row bands for fp8).
struct Piece {
  const Tensor* t;
  int64_t r0, r1;
};

void value_range(const Tensor& t, float* center, float* half_width) {
  switch (t.init) {
    case Init::Matrix:  // uniform(-a, a) has std a / sqrt(3)
      *center = 0.0f;
      *half_width = std::sqrt(3.0f / static_cast<float>(t.cols));
      break;
    case Init::Embedding:
      *center = 0.0f;
      *half_width = std::sqrt(3.0f);
      break;
    case Init::Norm:
      *center = 1.0f;
      *half_width = 0.05f;
      break;
    case Init::Bias:
      *center = 0.0f;
      *half_width = 0.01f;
      break;
  }
}

struct Scratch {
  std::vector<float> f;
  std::vector<uint16_t> h;
  std::vector<uint8_t> q;
  std::vector<float> scale;
};

void generate(const Piece& p, int64_t block, SafeTensorsWriter& w, Scratch& s) {
  const Tensor& t = *p.t;
  float center = 0, half = 0;
  value_range(t, &center, &half);
  const int64_t rows = p.r1 - p.r0, cols = t.cols, n = rows * cols;
  s.f.resize(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r)
    fill_row(t.seed, p.r0 + r, center, half, s.f.data() + r * cols, cols);
  if (t.dtype == DType::F32) {
    w.write(t.name, s.f.data(), static_cast<size_t>(n) * 4, static_cast<uint64_t>(p.r0 * cols) * 4);
  } else if (t.dtype == DType::BF16) {
    s.h.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) s.h[i] = f32_to_bf16(s.f[i]);
    w.write(t.name, s.h.data(), static_cast<size_t>(n) * 2, static_cast<uint64_t>(p.r0 * cols) * 2);
  } else {  // F8_E4M3 over whole row bands of `block` rows (the last may be short)
    const int64_t nb = (cols + block - 1) / block;
    const int64_t band0 = p.r0 / block, bands = (rows + block - 1) / block;
    s.q.resize(static_cast<size_t>(n));
    s.scale.assign(static_cast<size_t>(bands * nb), 0.0f);
    for (int64_t r = 0; r < rows; ++r) {
      const float* x = s.f.data() + r * cols;
      float* sc = s.scale.data() + (r / block) * nb;
      for (int64_t c = 0; c < cols; ++c) sc[c / block] = std::fmax(sc[c / block], std::fabs(x[c]));
    }
    for (float& v : s.scale) v = v > 0.0f ? v / 448.0f : 1.0f;  // amax / 448; all-zero block: 1
    for (int64_t r = 0; r < rows; ++r) {
      const float* x = s.f.data() + r * cols;
      const float* sc = s.scale.data() + (r / block) * nb;
      uint8_t* q = s.q.data() + r * cols;
      for (int64_t c = 0; c < cols; ++c) q[c] = to_fp8(x[c] / sc[c / block]);
    }
    w.write(t.name, s.q.data(), static_cast<size_t>(n), static_cast<uint64_t>(p.r0 * cols));
    w.write(t.name + "_scale_inv", s.scale.data(), s.scale.size() * 4,
            static_cast<uint64_t>(band0 * nb) * 4);
  }
}

// ---- the config ------------------------------------------------------------------------------

void note(const std::string& text) {
  std::fprintf(stderr, "dsx synth: note: %s\n", text.c_str());
}

int64_t get_int(const json& j, const char* key, int64_t fallback) {
  return j.contains(key) && j[key].is_number_integer() ? j[key].get<int64_t>() : fallback;
}

// --experts E: keeps the routing fields consistent with E (the checks ModelConfig::from_json
// makes).
void set_experts(json& j, int64_t e) {
  j["n_routed_experts"] = e;
  int64_t k = get_int(j, "num_experts_per_tok", 1);
  if (k > e) {
    note("num_experts_per_tok " + std::to_string(k) + " -> " + std::to_string(e));
    k = e;
  }
  const bool noaux = j.value("topk_method", std::string("greedy")) == "noaux_tc";
  const bool grouped = j.value("topk_method", std::string("greedy")) != "greedy";
  int64_t groups = get_int(j, "n_group", 1);
  int64_t g = std::min(groups, e);
  while (g > 1 && (e % g != 0 || (noaux && e / g < 2))) --g;
  if (g != groups) note("n_group " + std::to_string(groups) + " -> " + std::to_string(g));
  int64_t topk_group = std::min(get_int(j, "topk_group", 1), g);
  if (grouped) {
    while (k > topk_group * (e / g) && topk_group < g) ++topk_group;
    if (k > topk_group * (e / g)) k = topk_group * (e / g);
  }
  if (j.contains("n_group")) j["n_group"] = g;
  if (j.contains("topk_group") || topk_group != 1) {
    if (get_int(j, "topk_group", 1) != topk_group)
      note("topk_group " + std::to_string(get_int(j, "topk_group", 1)) + " -> " +
           std::to_string(topk_group));
    j["topk_group"] = topk_group;
  }
  if (get_int(j, "num_experts_per_tok", k) != k) j["num_experts_per_tok"] = k;
}

void set_layers(json& j, int64_t layers) {
  j["num_hidden_layers"] = layers;
  const int64_t fkd = get_int(j, "first_k_dense_replace", 0);
  if (get_int(j, "n_routed_experts", 0) > 0 && fkd >= layers) {
    // Keep at least one MoE layer, so the shrunken model still exercises the experts.
    j["first_k_dense_replace"] = layers - 1;
    note("first_k_dense_replace " + std::to_string(fkd) + " -> " + std::to_string(layers - 1));
  }
}

void make_dirs(const std::string& path) {
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    struct stat st;
    if (::stat(partial.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) throw Error("--out: " + partial + " exists and is not a folder");
      continue;
    }
    if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST)
      throw Error("--out: cannot create " + partial + ": " + std::strerror(errno));
  }
}

std::string human_bytes(double b) {
  char buf[32];
  if (b >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2f GB", b / 1e9);
  else
    std::snprintf(buf, sizeof buf, "%.1f MB", b / 1e6);
  return buf;
}

int run_synth(const SynthArgs& a) {
  if (a.config.empty() == a.like.empty())
    throw Error("synth: give exactly one of --config FILE or --like NAME");
  json j;
  std::string source;
  if (!a.config.empty()) {
    j = read_json_file(a.config);
    source = a.config;
    if (!j.is_object()) throw Error(a.config + ": not a JSON object");
  } else {
    if (a.like == "deepseek-v2-lite")
      j = json::parse(kDeepSeekV2Lite);
    else if (a.like == "deepseek-v3")
      j = json::parse(kDeepSeekV3);
    else
      throw Error("--like: unknown model '" + a.like + "' (deepseek-v2-lite, deepseek-v3)");
    source = "--like " + a.like;
  }
  // Validate the given config first, so its own errors name its own fields.
  ModelConfig::from_json(j, source);
  if (a.experts >= 0) {
    if (get_int(j, "n_routed_experts", 0) == 0)
      throw Error(source + ": --experts given but the model has no routed experts");
    set_experts(j, a.experts);
  }
  if (a.layers >= 0) set_layers(j, a.layers);
  bool fp8 = j.contains("quantization_config") && !j["quantization_config"].is_null();
  if (a.dtype == "fp8") {
    fp8 = true;
    if (!j.contains("quantization_config") || !j["quantization_config"].is_object())
      j["quantization_config"] = {{"activation_scheme", "dynamic"},
                                  {"fmt", "e4m3"},
                                  {"quant_method", "fp8"},
                                  {"weight_block_size", {128, 128}}};
  } else if (a.dtype == "bf16") {
    fp8 = false;
    j.erase("quantization_config");
  }
  j["torch_dtype"] = "bfloat16";
  const ModelConfig c = ModelConfig::from_json(j, source + " (with overrides)");

  const Plan plan(c, fp8, a.seed);
  std::vector<TensorSpec> specs;
  uint64_t params = 0;
  for (const Tensor& t : plan.tensors()) {
    specs.push_back(
        {t.name, t.dtype,
         t.vector ? std::vector<int64_t>{t.cols} : std::vector<int64_t>{t.rows, t.cols}});
    params += static_cast<uint64_t>(t.rows * t.cols);
    if (t.dtype == DType::F8_E4M3)
      specs.push_back(
          {t.name + "_scale_inv",
           DType::F32,
           {(t.rows + c.fp8_block - 1) / c.fp8_block, (t.cols + c.fp8_block - 1) / c.fp8_block}});
  }

  const uint64_t max_shard = static_cast<uint64_t>(a.shard_mb) << 20;
  if (a.dry_run) {  // what would be written, as one JSON object; no files
    uint64_t bytes = 0, in_shard = 0, shards = 1;
    for (const TensorSpec& t : specs) {
      if (in_shard > 0 && in_shard + t.nbytes() > max_shard) {
        ++shards;
        in_shard = 0;
      }
      in_shard += t.nbytes();
      bytes += t.nbytes();
    }
    const json summary = {{"config", j},      {"tensors", specs.size()},
                          {"params", params}, {"bytes", bytes},
                          {"files", shards},  {"dtype", fp8 ? "fp8" : "bf16"}};
    std::printf("%s\n", summary.dump(2).c_str());
    return 0;
  }
  if (a.out.empty()) throw Error("synth: --out is required");
  make_dirs(a.out);
  const auto t0 = std::chrono::steady_clock::now();
  SafeTensorsWriter writer(a.out, specs, max_shard);

  // Pieces of about 4 MiB of float32 work each.
  std::vector<Piece> pieces;
  for (const Tensor& t : plan.tensors()) {
    int64_t step = std::max<int64_t>(1, (int64_t{1} << 20) / std::max<int64_t>(1, t.cols));
    if (t.dtype == DType::F8_E4M3) step = (step + c.fp8_block - 1) / c.fp8_block * c.fp8_block;
    for (int64_t r = 0; r < t.rows; r += step)
      pieces.push_back({&t, r, std::min(t.rows, r + step)});
  }
  const int threads = a.threads > 0 ? a.threads : std::max(1u, std::thread::hardware_concurrency());
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> done_bytes{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i) {
    workers.emplace_back([&] {
      Scratch s;
      try {
        for (size_t k; !failed && (k = next++) < pieces.size();) {
          generate(pieces[k], c.fp8_block, writer, s);
          const Piece& p = pieces[k];
          done_bytes += static_cast<uint64_t>((p.r1 - p.r0) * p.t->cols) * dtype_size(p.t->dtype);
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed = true;
      }
    });
  }
  const bool tty = ::isatty(STDERR_FILENO);
  const uint64_t total = writer.total_bytes();
  if (tty) {
    while (next < pieces.size() && !failed) {
      std::fprintf(stderr, "\rsynth: %3d%%  %s of %s",
                   static_cast<int>(100.0 * done_bytes / std::max<uint64_t>(1, total)),
                   human_bytes(done_bytes).c_str(), human_bytes(total).c_str());
      std::fflush(stderr);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  for (auto& t : workers) t.join();
  if (tty) std::fprintf(stderr, "\r\033[K");
  if (error) std::rethrow_exception(error);
  writer.finish();

  {
    const std::string path = a.out + "/config.json";
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << j.dump(2) << "\n";
    if (!out) throw Error(path + ": cannot write");
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("wrote %s: %zu tensors, %.1fM params, %s (%s) in %zu file%s, %.1f s\n", a.out.c_str(),
              specs.size(), params / 1e6, human_bytes(static_cast<double>(total)).c_str(),
              fp8 ? "fp8 e4m3 + bf16" : "bf16", writer.files().size(),
              writer.files().size() == 1 ? "" : "s", s);
  return 0;
}

}  // namespace

Command add_synth(CLI::App& app) {
  auto args = std::make_shared<SynthArgs>();
  auto* config = app.add_option("--config", args->config, "config.json to copy the shape from");
  auto* like =
      app.add_option("--like", args->like, "a released shape: deepseek-v2-lite or deepseek-v3");
  config->excludes(like);
  app.add_option("--layers", args->layers, "override num_hidden_layers")
      ->check(CLI::Range(1, 4096));
  app.add_option("--experts", args->experts, "override n_routed_experts (routing fields follow)")
      ->check(CLI::Range(1, 65536));
  app.add_option("--dtype", args->dtype,
                 "bf16 or fp8 (e4m3, 128x128 block scales); default: fp8 "
                 "if the config has quantization_config, else bf16")
      ->check(CLI::IsMember({"bf16", "fp8"}));
  app.add_option("--seed", args->seed, "random seed (same seed, same files)");
  app.add_option("-t,--threads", args->threads, "threads (0: all cores)")
      ->check(CLI::Range(0, 1024));
  app.add_option("--shard-mb", args->shard_mb, "largest shard in MiB (default 2048)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("-o,--out", args->out, "output folder (created)");
  app.add_flag("--dry-run", args->dry_run, "print the config and the size that would be written");
  return [args]() { return run_synth(*args); };
}

}  // namespace dsx::cli
