// config.json of DeepSeek-V2 / V2-Lite / Coder-V2 / V3 / R1, read field by field.
#include <cmath>

#include "model/model.h"

namespace dsx {

namespace {

using nlohmann::json;

// Reads config fields with type and range checks; every message names the file and field.
class FieldReader {
 public:
  FieldReader(const json& j, std::string where) : j_(j), where_(std::move(where)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& why) const {
    throw Error(where_ + ": field '" + field + "' " + why);
  }
  bool has(const std::string& f) const { return j_.contains(f) && !j_[f].is_null(); }

  int64_t integer(const std::string& f, int64_t min_value) const {
    if (!j_.contains(f)) fail(f, "is missing");
    return integer_value(f, j_[f], min_value);
  }
  int64_t integer_or(const std::string& f, int64_t fallback, int64_t min_value) const {
    return has(f) ? integer_value(f, j_[f], min_value) : fallback;
  }
  double number_or(const std::string& f, double fallback, double min_value) const {
    if (!has(f)) return fallback;
    return number_value(f, j_[f], min_value);
  }
  double number(const std::string& f, double min_value) const {
    if (!j_.contains(f)) fail(f, "is missing");
    return number_value(f, j_[f], min_value);
  }
  std::string string_or(const std::string& f, const std::string& fallback) const {
    if (!has(f)) return fallback;
    if (!j_[f].is_string()) fail(f, "must be a string");
    return j_[f].get<std::string>();
  }
  bool boolean_or(const std::string& f, bool fallback) const {
    if (!has(f)) return fallback;
    if (!j_[f].is_boolean()) fail(f, "must be true or false");
    return j_[f].get<bool>();
  }
  const json& at(const std::string& f) const { return j_[f]; }

  int64_t integer_value(const std::string& f, const json& v, int64_t min_value) const {
    if (!v.is_number_integer()) fail(f, "must be an integer");
    const int64_t x = v.get<int64_t>();
    if (x < min_value) fail(f, "must be >= " + std::to_string(min_value) + ", got " + std::to_string(x));
    if (x > (int64_t{1} << 40)) fail(f, "is implausibly large (" + std::to_string(x) + ")");
    return x;
  }
  double number_value(const std::string& f, const json& v, double min_value) const {
    if (!v.is_number()) fail(f, "must be a number");
    const double x = v.get<double>();
    if (!std::isfinite(x) || x < min_value) fail(f, "must be a finite number >= " + std::to_string(min_value));
    return x;
  }

 private:
  const json& j_;
  std::string where_;
};

// yarn_get_mscale of DeepSeek's code: 0.1 * mscale * ln(scale) + 1 for scale > 1.
double yarn_mscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

}  // namespace

double ModelConfig::softmax_scale() const {
  double s = 1.0 / std::sqrt(static_cast<double>(qk_head_dim()));
  if (yarn && yarn->mscale_all_dim != 0.0) {
    const double m = yarn_mscale(yarn->factor, yarn->mscale_all_dim);
    s *= m * m;
  }
  return s;
}

ModelConfig ModelConfig::from_json(const json& j, const std::string& where) {
  if (!j.is_object()) throw Error(where + ": not a JSON object");
  FieldReader r(j, where);
  ModelConfig c;
  c.model_type = r.string_or("model_type", "");
  if (c.model_type != "deepseek_v2" && c.model_type != "deepseek_v3")
    r.fail("model_type", "must be deepseek_v2 or deepseek_v3, got '" + c.model_type + "'");

  c.vocab_size = r.integer("vocab_size", 1);
  c.hidden_size = r.integer("hidden_size", 1);
  c.intermediate_size = r.integer("intermediate_size", 1);
  c.num_hidden_layers = r.integer("num_hidden_layers", 1);
  c.num_attention_heads = r.integer("num_attention_heads", 1);
  if (r.has("num_key_value_heads") &&
      r.integer("num_key_value_heads", 1) != c.num_attention_heads)
    r.fail("num_key_value_heads", "must equal num_attention_heads under MLA");
  c.q_lora_rank = r.integer_or("q_lora_rank", 0, 1);
  c.kv_lora_rank = r.integer("kv_lora_rank", 1);
  c.qk_nope_head_dim = r.integer("qk_nope_head_dim", 1);
  c.qk_rope_head_dim = r.integer("qk_rope_head_dim", 2);
  if (c.qk_rope_head_dim % 2) r.fail("qk_rope_head_dim", "must be even");
  c.v_head_dim = r.integer("v_head_dim", 1);

  c.n_routed_experts = r.integer_or("n_routed_experts", 0, 0);
  c.first_k_dense_replace = r.integer_or("first_k_dense_replace", 0, 0);
  c.moe_layer_freq = r.integer_or("moe_layer_freq", 1, 1);
  if (c.n_routed_experts > 0) {
    c.moe_intermediate_size = r.integer("moe_intermediate_size", 1);
    c.n_shared_experts = r.integer_or("n_shared_experts", 0, 0);
    c.num_experts_per_tok = r.integer("num_experts_per_tok", 1);
    if (c.num_experts_per_tok > c.n_routed_experts)
      r.fail("num_experts_per_tok", "exceeds n_routed_experts");
    c.n_group = r.integer_or("n_group", 1, 1);
    c.topk_group = r.integer_or("topk_group", 1, 1);
    if (c.n_routed_experts % c.n_group) r.fail("n_group", "must divide n_routed_experts");
    if (c.topk_group > c.n_group) r.fail("topk_group", "exceeds n_group");
    const std::string method = r.string_or("topk_method", "greedy");
    if (method == "greedy") c.topk_method = TopkMethod::Greedy;
    else if (method == "group_limited_greedy") c.topk_method = TopkMethod::GroupLimitedGreedy;
    else if (method == "noaux_tc") c.topk_method = TopkMethod::NoauxTc;
    else r.fail("topk_method", "value '" + method + "' is not supported (greedy, group_limited_greedy, noaux_tc)");
    const std::string scoring = r.string_or("scoring_func", "softmax");
    if (scoring == "softmax") c.scoring_func = ScoringFunc::Softmax;
    else if (scoring == "sigmoid") c.scoring_func = ScoringFunc::Sigmoid;
    else r.fail("scoring_func", "value '" + scoring + "' is not supported (softmax, sigmoid)");
    if (c.topk_method != TopkMethod::Greedy &&
        c.num_experts_per_tok > c.topk_group * (c.n_routed_experts / c.n_group))
      r.fail("num_experts_per_tok", "exceeds the experts in topk_group groups");
    if (c.topk_method == TopkMethod::NoauxTc && c.n_routed_experts / c.n_group < 2)
      r.fail("n_group", "leaves fewer than 2 experts a group (noaux_tc scores a group by its top 2)");
    c.norm_topk_prob = r.boolean_or("norm_topk_prob", false);
    c.routed_scaling_factor = r.number_or("routed_scaling_factor", 1.0, 0.0);
    if (c.first_k_dense_replace > c.num_hidden_layers)
      r.fail("first_k_dense_replace", "exceeds num_hidden_layers");
  }

  const std::string act = r.string_or("hidden_act", "silu");
  if (act != "silu") r.fail("hidden_act", "value '" + act + "' is not supported (silu)");
  if (r.boolean_or("attention_bias", false)) r.fail("attention_bias", "true is not supported");
  if (r.boolean_or("tie_word_embeddings", false)) r.fail("tie_word_embeddings", "true is not supported");
  c.rope_theta = r.number_or("rope_theta", 10000.0, 1.0);
  c.rms_norm_eps = r.number_or("rms_norm_eps", 1e-6, 0.0);
  c.max_position_embeddings = r.integer_or("max_position_embeddings", 4096, 1);
  c.num_nextn_predict_layers = r.integer_or("num_nextn_predict_layers", 0, 0);
  c.bos_token_id = static_cast<int32_t>(r.integer_or("bos_token_id", -1, -1));
  c.eos_token_id = static_cast<int32_t>(r.integer_or("eos_token_id", -1, -1));

  if (r.has("rope_scaling")) {
    const json& rs = r.at("rope_scaling");
    if (!rs.is_object()) r.fail("rope_scaling", "must be an object or null");
    FieldReader y(rs, where + ": rope_scaling");
    std::string type = y.string_or("type", y.string_or("rope_type", ""));
    if (type != "yarn") r.fail("rope_scaling", "type '" + type + "' is not supported (yarn)");
    YarnConfig yc;
    yc.factor = y.number("factor", 1.0);
    yc.beta_fast = y.number_or("beta_fast", 32.0, 0.0);
    yc.beta_slow = y.number_or("beta_slow", 1.0, 0.0);
    yc.mscale = y.number_or("mscale", 1.0, 0.0);
    yc.mscale_all_dim = y.number_or("mscale_all_dim", 0.0, 0.0);
    yc.original_max_position_embeddings = y.integer("original_max_position_embeddings", 1);
    if (yc.beta_fast <= 0 || yc.beta_slow <= 0) y.fail("beta_fast", "and beta_slow must be positive");
    c.yarn = yc;
  }

  if (r.has("quantization_config")) {
    const json& q = r.at("quantization_config");
    if (!q.is_object()) r.fail("quantization_config", "must be an object");
    FieldReader qr(q, where + ": quantization_config");
    const std::string method = qr.string_or("quant_method", "");
    if (method != "fp8") qr.fail("quant_method", "value '" + method + "' is not supported (fp8)");
    const std::string fmt = qr.string_or("fmt", "e4m3");
    if (fmt != "e4m3") qr.fail("fmt", "value '" + fmt + "' is not supported (e4m3)");
    const std::string scheme = qr.string_or("activation_scheme", "dynamic");
    if (scheme != "dynamic") qr.fail("activation_scheme", "value '" + scheme + "' is not supported (dynamic)");
    if (qr.has("weight_block_size")) {
      const json& b = q["weight_block_size"];
      if (!b.is_array() || b.size() != 2 || !b[0].is_number_integer() || b[0] != b[1] ||
          b[0].get<int64_t>() <= 0)
        qr.fail("weight_block_size", "must be two equal positive integers");
      c.fp8_block = b[0].get<int64_t>();
    }
    c.fp8 = true;
  }
  return c;
}

ModelConfig ModelConfig::load(const std::string& model_dir) {
  const std::string path = model_dir + "/config.json";
  return from_json(read_json_file(path), path);
}

}  // namespace dsx
