// Binds every tensor the config implies to a WeightView over the mapped file, checking shapes and
// dtypes. Tensor names are the original DeepSeek checkpoint names.
#include <string>

#include "model/model.h"

namespace dsx {

namespace {

class Binder {
 public:
  Binder(const ModelConfig& c, const SafeTensors& st) : c_(c), st_(st) {}

  // A matrix [rows, cols]: BF16/F16/F32, or F8_E4M3 with its "<name>_scale_inv" block scales.
  WeightView matrix(const std::string& name, int64_t rows, int64_t cols) const {
    const TensorInfo& t = st_.get(name);
    check_shape(t, {rows, cols});
    WeightView w;
    w.type = t.dtype;
    w.data = t.data;
    w.rows = rows;
    w.cols = cols;
    if (t.dtype == DType::F8_E4M3) {
      const std::string scale_name = name + "_scale_inv";
      const TensorInfo* s = st_.find(scale_name);
      if (!s) throw Error(t.file + ": tensor '" + scale_name + "' is missing (needed by F8_E4M3 '" + name + "')");
      const int64_t b = c_.fp8_block;
      check_shape(*s, {(rows + b - 1) / b, (cols + b - 1) / b});
      if (s->dtype != DType::F32)
        throw Error(s->file + ": tensor '" + scale_name + "' must be F32, is " + dtype_name(s->dtype));
      w.block_scale = static_cast<const float*>(s->data);
      w.block = b;
    } else if (t.dtype != DType::BF16 && t.dtype != DType::F16 && t.dtype != DType::F32) {
      throw Error(t.file + ": tensor '" + name + "' has dtype " + dtype_name(t.dtype) +
                  " (expected BF16, F16, F32 or F8_E4M3)");
    }
    return w;
  }

  // A vector [n] (norm weights): BF16/F16/F32, viewed as a 1-row matrix.
  WeightView vector(const std::string& name, int64_t n) const {
    const TensorInfo& t = st_.get(name);
    check_shape(t, {n});
    if (t.dtype != DType::BF16 && t.dtype != DType::F16 && t.dtype != DType::F32)
      throw Error(t.file + ": tensor '" + name + "' has dtype " + dtype_name(t.dtype) +
                  " (expected BF16, F16 or F32)");
    WeightView w;
    w.type = t.dtype;
    w.data = t.data;
    w.rows = 1;
    w.cols = n;
    return w;
  }

  bool has(const std::string& name) const { return st_.find(name) != nullptr; }

  MlpWeights mlp(const std::string& prefix, int64_t inter) const {
    const int64_t h = c_.hidden_size;
    return {matrix(prefix + "gate_proj.weight", inter, h), matrix(prefix + "up_proj.weight", inter, h),
            matrix(prefix + "down_proj.weight", h, inter)};
  }

  LayerWeights layer(int64_t index) const {
    const std::string p = "model.layers." + std::to_string(index) + ".";
    const int64_t h = c_.hidden_size, heads = c_.num_attention_heads;
    LayerWeights l;
    l.input_norm = vector(p + "input_layernorm.weight", h);
    l.post_attn_norm = vector(p + "post_attention_layernorm.weight", h);
    MlaWeights& a = l.attn;
    const std::string ap = p + "self_attn.";
    if (c_.q_lora_rank > 0) {
      a.q_a = matrix(ap + "q_a_proj.weight", c_.q_lora_rank, h);
      a.q_a_norm = vector(ap + "q_a_layernorm.weight", c_.q_lora_rank);
      a.q_b = matrix(ap + "q_b_proj.weight", heads * c_.qk_head_dim(), c_.q_lora_rank);
    } else {
      a.q = matrix(ap + "q_proj.weight", heads * c_.qk_head_dim(), h);
    }
    a.kv_a = matrix(ap + "kv_a_proj_with_mqa.weight", c_.kv_lora_rank + c_.qk_rope_head_dim, h);
    a.kv_a_norm = vector(ap + "kv_a_layernorm.weight", c_.kv_lora_rank);
    a.kv_b = matrix(ap + "kv_b_proj.weight", heads * (c_.qk_nope_head_dim + c_.v_head_dim),
                    c_.kv_lora_rank);
    a.o = matrix(ap + "o_proj.weight", h, heads * c_.v_head_dim);
    build_absorbed_weights(c_, a);

    // MTP layers (index >= num_hidden_layers) are MoE layers when the model has experts.
    l.moe = index >= c_.num_hidden_layers ? c_.n_routed_experts > 0 : c_.is_moe_layer(index);
    const std::string mp = p + "mlp.";
    if (!l.moe) {
      l.mlp = mlp(mp, c_.intermediate_size);
      return l;
    }
    MoeWeights& m = l.experts;
    m.router = matrix(mp + "gate.weight", c_.n_routed_experts, h);
    if (m.router.type == DType::F8_E4M3)
      throw Error(st_.source() + ": tensor '" + mp + "gate.weight' must not be F8_E4M3");
    const std::string bias_name = mp + "gate.e_score_correction_bias";
    if (c_.topk_method == TopkMethod::NoauxTc) {
      const TensorInfo& b = st_.get(bias_name);
      check_shape(b, {c_.n_routed_experts});
      WeightView bv = vector(bias_name, c_.n_routed_experts);
      m.bias.resize(static_cast<size_t>(c_.n_routed_experts));
      kernels::load_row(bv, 0, m.bias.data());
    }
    for (int64_t e = 0; e < c_.n_routed_experts; ++e)
      m.experts.push_back(mlp(mp + "experts." + std::to_string(e) + ".", c_.moe_intermediate_size));
    if (c_.n_shared_experts > 0)
      m.shared = mlp(mp + "shared_experts.", c_.moe_intermediate_size * c_.n_shared_experts);
    return l;
  }

 private:
  void check_shape(const TensorInfo& t, std::vector<int64_t> expected) const {
    if (t.shape != expected) {
      TensorInfo want;
      want.shape = expected;
      throw Error(t.file + ": tensor '" + t.name + "' has shape " + t.shape_string() +
                  ", expected " + want.shape_string());
    }
  }

  const ModelConfig& c_;
  const SafeTensors& st_;
};

}  // namespace

ModelWeights ModelWeights::load(const ModelConfig& c, const SafeTensors& st) {
  Binder b(c, st);
  ModelWeights w;
  w.embed = b.matrix("model.embed_tokens.weight", c.vocab_size, c.hidden_size);
  w.final_norm = b.vector("model.norm.weight", c.hidden_size);
  w.lm_head = b.matrix("lm_head.weight", c.vocab_size, c.hidden_size);
  if (w.embed.type == DType::F8_E4M3)
    throw Error(st.source() + ": tensor 'model.embed_tokens.weight' must not be F8_E4M3");
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) w.layers.push_back(b.layer(l));
  for (int64_t d = 0; d < c.num_nextn_predict_layers; ++d) {
    const int64_t index = c.num_hidden_layers + d;
    const std::string p = "model.layers." + std::to_string(index) + ".";
    MtpWeights m;
    m.enorm = b.vector(p + "enorm.weight", c.hidden_size);
    m.hnorm = b.vector(p + "hnorm.weight", c.hidden_size);
    m.eh_proj = b.matrix(p + "eh_proj.weight", c.hidden_size, 2 * c.hidden_size);
    m.layer = b.layer(index);
    m.head_norm = b.vector(p + "shared_head.norm.weight", c.hidden_size);
    // The official checkpoint repeats embed_tokens and the head inside the MTP layer; smaller
    // ones share the main model's (as demo-coder does).
    m.head = b.has(p + "shared_head.head.weight")
                 ? b.matrix(p + "shared_head.head.weight", c.vocab_size, c.hidden_size)
                 : w.lm_head;
    m.embed = b.has(p + "embed_tokens.weight")
                  ? b.matrix(p + "embed_tokens.weight", c.vocab_size, c.hidden_size)
                  : w.embed;
    if (m.embed.type == DType::F8_E4M3)
      throw Error(st.source() + ": tensor '" + p + "embed_tokens.weight' must not be F8_E4M3");
    w.mtp.push_back(std::move(m));
  }
  return w;
}

}  // namespace dsx
