// dsx model: the DeepSeek-V2/V3 configuration, its weights (memory-mapped, used in place), and
// the forward pass as plain function calls: embeddings -> [RMSNorm, MLA, RMSNorm, MLP or MoE] x L
// -> final norm -> head, plus the multi-token-prediction (MTP) module.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/core.h"
#include "io/io.h"
#include "kernels/ops.h"
#include "kv/kv.h"

namespace dsx {

enum class TopkMethod { Greedy, GroupLimitedGreedy, NoauxTc };
enum class ScoringFunc { Softmax, Sigmoid };

// YaRN long-context RoPE parameters (rope_scaling with "type": "yarn").
struct YarnConfig {
  double factor = 1.0;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 1.0;
  double mscale_all_dim = 0.0;
  int64_t original_max_position_embeddings = 4096;
};

// Every field the forward pass depends on, read explicitly from config.json (no guessing from
// tensor shapes). Contradictions are refused at load time.
struct ModelConfig {
  std::string model_type;  // deepseek_v2 or deepseek_v3
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;      // dense MLP layers
  int64_t moe_intermediate_size = 0;  // each routed expert (shared experts: x n_shared_experts)
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t q_lora_rank = 0;  // 0: plain q_proj (config null)
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
  int64_t first_k_dense_replace = 0;
  int64_t moe_layer_freq = 1;
  int64_t n_routed_experts = 0;  // 0: no MoE layers
  int64_t n_shared_experts = 0;
  int64_t num_experts_per_tok = 0;
  int64_t n_group = 1;
  int64_t topk_group = 1;
  TopkMethod topk_method = TopkMethod::Greedy;
  ScoringFunc scoring_func = ScoringFunc::Softmax;
  bool norm_topk_prob = false;
  double routed_scaling_factor = 1.0;
  double rope_theta = 10000.0;
  std::optional<YarnConfig> yarn;
  double rms_norm_eps = 1e-6;
  int64_t max_position_embeddings = 4096;
  int64_t num_nextn_predict_layers = 0;
  bool fp8 = false;         // quantization_config: fp8 e4m3 block-scaled weights
  int64_t fp8_block = 128;  // weight_block_size (square)
  int32_t bos_token_id = -1;
  int32_t eos_token_id = -1;

  int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  bool is_moe_layer(int64_t layer) const {
    return n_routed_experts > 0 && layer >= first_k_dense_replace && layer % moe_layer_freq == 0;
  }
  // Softmax scale qk_head_dim^-0.5, times mscale(factor, mscale_all_dim)^2 under YaRN.
  double softmax_scale() const;

  // `where` names the file in messages.
  static ModelConfig from_json(const nlohmann::json& j, const std::string& where);
  static ModelConfig load(const std::string& model_dir);
};

// Rotary embedding tables: the inverse frequencies (float32, computed as the reference does) and
// the YaRN attention factor applied to cos and sin.
struct Rope {
  std::vector<float> inv_freq;  // [qk_rope_head_dim / 2]
  float attention_factor = 1.0f;
  explicit Rope(const ModelConfig& c);
  // Rotates interleaved pairs (x[2i], x[2i+1]) of x[qk_rope_head_dim] in place by pos *
  // inv_freq[i]; with count > 1, the `count` vectors x + k * stride (the heads of one token: the
  // angles are computed once).
  void apply(float* x, int64_t pos, int64_t count = 1, int64_t stride = 0) const;
};

using kernels::WeightView;

// Multi-head latent attention weights of one layer. Shapes are [out, in].
struct MlaWeights {
  WeightView q_a;        // [q_lora_rank, hidden] (q_lora_rank > 0)
  WeightView q_a_norm;   // [q_lora_rank]
  WeightView q_b;        // [heads * qk_head_dim, q_lora_rank]
  WeightView q;          // [heads * qk_head_dim, hidden] (q_lora_rank == 0)
  WeightView kv_a;       // [kv_lora_rank + qk_rope_head_dim, hidden]  (kv_a_proj_with_mqa)
  WeightView kv_a_norm;  // [kv_lora_rank]
  // [heads * (qk_nope_head_dim + v_head_dim), kv_lora_rank]: per head W_UK then W_UV. The
  // expanded form multiplies cached latents by it whole; uv views bands of it, and
  // interleave_weights lays it out whole (a band of whole groups of an interleaved matrix is
  // itself interleaved, so the bands say so too).
  WeightView kv_b;
  WeightView o;  // [hidden, heads * v_head_dim]
  // Per head, the two halves of kv_b as the absorbed form multiplies them (see absorb.cc):
  std::vector<WeightView>
      uk_t;                    // heads x [kv_lora_rank, qk_nope_head_dim]: W_UK transposed (a copy)
  std::vector<WeightView> uv;  // heads x [v_head_dim, kv_lora_rank]: W_UV (in place when possible)
  std::shared_ptr<const void> absorbed_storage;  // owns the copies uk_t/uv point into
};

// Builds MlaWeights::uk_t and uv from kv_b: bf16 stays bf16 (transposed exactly), fp8 whose
// 128x128 blocks align with the heads stays fp8 (blocks and scales transposed), anything else
// becomes float32 (exact dequantisation).
void build_absorbed_weights(const ModelConfig& c, MlaWeights& w);

// Where the weights are a private copy (SafeTensors::writable), rewrites every matrix that only
// matmul reads into the layout its kernels read fastest, in place: the tile layout where AMX
// multiplies it (kernels::tile_rows), else the interleaved one (kernels::interleave_rows); others,
// and matrices that cannot take a layout, stay row-major. Results are bit-identical either way.
struct ModelWeights;
void interleave_weights(ModelWeights& w, const SafeTensors& st);
// The same for a matrix the model built itself (data: its writable bytes).
void lay_out_copy(WeightView& w, void* data);

struct MlpWeights {
  WeightView gate;  // [inter, hidden]
  WeightView up;    // [inter, hidden]
  WeightView down;  // [hidden, inter]
};

struct MoeWeights {
  WeightView router;        // [n_routed_experts, hidden]
  std::vector<float> bias;  // [n_routed_experts] e_score_correction_bias (noaux_tc), else empty
  std::vector<MlpWeights> experts;   // n_routed_experts of [moe_inter, hidden]
  std::optional<MlpWeights> shared;  // [moe_inter * n_shared_experts, hidden]
};

struct LayerWeights {
  WeightView input_norm;      // [hidden]
  WeightView post_attn_norm;  // [hidden]
  MlaWeights attn;
  bool moe = false;
  MlpWeights mlp;  // dense layers
  MoeWeights experts;
};

struct MtpWeights {
  WeightView enorm;    // [hidden]
  WeightView hnorm;    // [hidden]
  WeightView eh_proj;  // [hidden, 2 * hidden]: input is concat(enorm(embed), hnorm(h))
  LayerWeights layer;
  WeightView head_norm;  // [hidden] shared_head.norm
  WeightView head;       // [vocab, hidden] shared_head.head, or the main lm_head when absent
  WeightView embed;      // [vocab, hidden] its own embed_tokens, or the main one when absent
};

struct ModelWeights {
  WeightView embed;       // [vocab, hidden]
  WeightView final_norm;  // [hidden]
  WeightView lm_head;     // [vocab, hidden]
  std::vector<LayerWeights> layers;
  std::vector<MtpWeights> mtp;
  // Loads and shape-checks every tensor the config implies; throws Error naming the tensor.
  static ModelWeights load(const ModelConfig& c, const SafeTensors& st);
};

// A batch of tokens to run through the model together. Tokens may belong to different sequences
// (continuous batching); each token attends to its own sequence's cache up to its position.
// The cache entries for (seq, pos) of every token are written before attention, so a token may
// attend to earlier tokens of the same batch.
//
// Attention takes one of two forms per row (mla.cc). The absorbed form attends over the latent
// cache directly; the expanded form multiplies the cached latents back out into per-head keys
// and values and attends in their smaller dimensions, which is cheaper for a long enough run of
// prompt rows. A run is a maximal stretch of expandable rows of one sequence at consecutive
// positions; its form depends only on its first position and length (expanded_is_cheaper), and
// within a form a row's result depends only on its own query and its sequence's cache. So a
// prompt gives the same bits however it is batched, as long as it is cut into the same runs.
enum class AttentionForm : uint8_t {
  Cheaper,   // each run of expandable rows takes the cheaper form; other rows absorbed
  Absorbed,  // every row absorbed
  Expanded,  // every run of expandable rows expanded (tests compare the forms)
};

struct ForwardBatch {
  std::span<const int32_t> tokens;     // [n]
  std::span<const int32_t> positions;  // [n]
  std::span<const int32_t> seqs;       // [n] sequence ids in the cache
  // Rows of the batch whose logits are wanted (e.g. the last token of each sequence).
  std::span<const int32_t> logit_rows;
  // [n] or empty (every row): 1 where a row may take the expanded form (prompt rows; the engine
  // keeps generated rows absorbed so that recomputing them after preemption gives their bits).
  std::span<const uint8_t> expandable = {};
  AttentionForm form = AttentionForm::Cheaper;
};

// Whether the expanded form costs fewer FLOPs than the absorbed one for a run of `rows` rows of
// one sequence starting at `first` (at least kMinExpandedRows rows). Absorbed, each row pays
// W_UK and W_UV through its heads and then 2 (kv_lora + rope) + 2 kv_lora FLOPs per head and key;
// expanded, every key of the sequence up to the run's end pays W_UK and W_UV (as much as a row
// does) and then each (row, key) pair only 2 qk_head_dim + 2 v_head_dim.
constexpr int64_t kMinExpandedRows = 16;
bool expanded_is_cheaper(const ModelConfig& c, int64_t first, int64_t rows);

// Scratch buffers of one forward pass; they only grow, so a steady token loop allocates nothing.
// n = tokens in the batch.
struct Workspace {
  std::vector<float> x;         // [n, hidden] residual stream
  std::vector<float> h;         // [n, hidden] normed input of a block
  std::vector<float> q_a;       // [n, q_lora_rank]
  std::vector<float> q;         // [n, heads * qk_head_dim]
  std::vector<float> kv_a;      // [n, kv_lora_rank + qk_rope_head_dim]
  std::vector<float> q_latent;  // [n * heads, kv_lora_rank + qk_rope_head_dim]: absorbed query
  std::vector<float> o_latent;  // [n * heads, kv_lora_rank]: attention output in latent space
  std::vector<float> attn;      // [n, heads * v_head_dim]
  // Latent attention (latent_attention.cc); padded = heads rounded up to 16.
  std::vector<float> attn_qt;     // [n, kv_lora + rope, padded]: queries with heads in lanes
  std::vector<float> attn_stats;  // [n, 2, padded]: running softmax max and sum per row
  std::vector<float> attn_parts;  // [units, heads, kv_lora] then [units, 2, padded]: chunk partials
  std::vector<std::vector<float>> attn_thread;  // per pool thread: scores and partial scratch
  std::vector<int64_t> attn_groups;             // first batch row of each group of rows, then n
  std::vector<int64_t> attn_bounds;  // per pool thread: its first group or unit, then the end
  std::vector<int64_t> attn_units;   // (row, chunk) pairs of one wave
  // Attention forms (mla.cc): runs and the absorbed rows gathered when a batch mixes forms.
  std::vector<int64_t> runs;           // expanded runs: first row then rows, flattened
  std::vector<int32_t> absorbed_rows;  // batch rows of the absorbed form, ascending
  std::vector<int32_t> sub_positions;  // [absorbed rows]
  std::vector<int32_t> sub_seqs;       // [absorbed rows]
  std::vector<float> sub_q;            // [absorbed rows, heads * qk_head_dim]
  std::vector<float> sub_attn;         // [absorbed rows, heads * v_head_dim]
  // Expanded attention (expanded_attention.cc), K = keys of the run's sequence up to its end.
  std::vector<float> x_latent;  // [K, kv_lora]: the cached latents
  std::vector<float> x_kv;      // [K, group heads, nope + v]: the latents times kv_b's rows
  std::vector<float> x_keys;    // [group heads, K, qk_head_dim]: each head's keys, k_pe appended
  std::vector<const float*> x_value_rows;  // [group heads, K]: where each value row is in x_kv
  std::vector<int64_t> x_bounds;  // per pool thread: its first (head, tile) task, then the end
  // Floats of expanded keys and values held at once: heads go in groups under it, all at once
  // unless the context is long (tests lower it to run heads in groups).
  int64_t expanded_floats = int64_t{1} << 24;
  std::vector<float> gate;            // [n, inter]
  std::vector<float> up;              // [n, inter]
  std::vector<float> mlp_out;         // [n, hidden]
  std::vector<float> router;          // [n, n_routed_experts]
  std::vector<int32_t> topk_ids;      // [n, experts_per_tok]
  std::vector<float> topk_weights;    // [n, experts_per_tok]
  std::vector<int64_t> expert_first;  // [experts + 1]: each expert's first gathered row
  std::vector<int64_t> expert_fill;   // [experts]: next free gathered row while grouping
  std::vector<int64_t> expert_slots;  // [n, experts_per_tok]: each token's gathered rows, ascending
  std::vector<int32_t> expert_tokens;  // [n * experts_per_tok]: batch row of each gathered row
  std::vector<float> expert_weights;   // [n * experts_per_tok]: its routing weight
  std::vector<float> expert_x;         // [n * experts_per_tok, hidden]: inputs grouped by expert
  std::vector<float> expert_y;  // [n * experts_per_tok + n, hidden]: expert outputs, then shared
  std::vector<float> normed;    // [rows, hidden] rows picked for the head
  std::vector<kernels::MatmulJob> jobs;  // products run in one pass of the pool
  std::vector<float> mtp_in;             // [n, 2 * hidden]
};

// What a forward pass returns. Buffers are reused across calls.
struct ForwardOutput {
  std::vector<float> logits;        // [logit_rows.size(), vocab]
  std::vector<float> final_hidden;  // [n, hidden], after the final norm (input to MTP)
  // When capture_hidden is set: hidden[N] is [n, hidden] for N = 0..L (see goldens README).
  bool capture_hidden = false;
  std::vector<std::vector<float>> hidden;
  Workspace ws;
};

class Model {
 public:
  // Loads config.json and the safetensors weights of a model folder (see LoadMode in io.h).
  static std::unique_ptr<Model> load(const std::string& model_dir, LoadMode mode = LoadMode::Auto);

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  const std::string& dir() const { return dir_; }
  bool weights_copied() const { return tensors_.copied(); }  // see LoadMode
  // Number of cache layers: the main layers then the MTP layers.
  int64_t cache_layers() const {
    return config_.num_hidden_layers + config_.num_nextn_predict_layers;
  }

  // Throws Error if a token id is outside the vocabulary or a position outside the context.
  void check_batch(const ForwardBatch& batch, const LatentCache& cache) const;

  // Runs the main model over the batch, writing the batch's cache entries.
  void forward(const ForwardBatch& batch, LatentCache& cache, ThreadPool& pool,
               ForwardOutput& out) const;

  // Runs MTP module `depth` (0-based): row i combines embed(tokens[i]) with hidden[i] (the main
  // model's final-normed hidden state of the previous position) at positions[i]. Writes logits
  // for every row to out.logits ([n, vocab]).
  void forward_mtp(int depth, const ForwardBatch& batch, std::span<const float> hidden,
                   LatentCache& cache, ThreadPool& pool, ForwardOutput& out) const;

 private:
  Model(std::string dir, ModelConfig config, SafeTensors st);

  std::string dir_;
  ModelConfig config_;
  SafeTensors tensors_;
  ModelWeights weights_;
  Rope rope_;
};

}  // namespace dsx
