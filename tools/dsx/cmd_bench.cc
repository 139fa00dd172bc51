// dsx bench: prefill and decode speed on one model, next to the machine's limits, in one run.
//
// The method (DESIGN.md, Performance): decode reads every active weight and the cache once per
// token, so bytes/token divided by the measured read bandwidth is its floor; prefill is bound by
// arithmetic, so FLOPs/token divided by the measured float32 FMA peak is its floor. Both are
// counted here from the model's config and stored weight types, and printed beside the achieved
// figures. What is counted:
//   FLOPs/token (prefill): 2 x the matmul weights one token multiplies — the attention
//     projections (q or q_a + q_b, kv_a_proj_with_mqa, kv_b_proj once: as the absorbed W_UK /
//     W_UV per head, or expanding the token's own key and value), o_proj), the router, the dense
//     MLP or the shared experts plus num_experts_per_tok routed experts — plus the attention in
//     the form the engine gives each prompt chunk (expanded_is_cheaper, chunks of the engine's
//     prefill_chunk from position 0). Per head and (row, key) pair: expanded 2 qk_head_dim for
//     the score + 2 v_head_dim for the weighted sum, absorbed 2 (kv_lora + rope) + 2 kv_lora;
//     expanded chunks also multiply every earlier key out again: 2 (nope + v) kv_lora per head
//     and key. The head runs once per prompt (the last position's logits): 2 vocab hidden / p.
//   bytes/token (decode, batch of one): the same weights as stored (fp8 with its block scales),
//     exactly num_experts_per_tok routed experts per MoE layer (a token's top-k are k distinct
//     experts), the norms, one embedding row, the head, plus the cache the token attends to at
//     the mean decode context p + (n+1)/2: layers x ctx x (kv_lora + rope) float32.
//   With --batch N (N > 1), N more sequences, each prefilled with its own --batch-prompt P
//   tokens, then decode n steps of one token each, all N in one forward pass a step (as the
//   engine's scheduler does), every row's logits wanted. Per step:
//   bytes: the weights once — but routed experts counted as min(n_routed_experts, N x top_k) a
//     MoE layer, an upper bound on the distinct experts N tokens can pick (routing is not
//     visible from here; the last MoE layer's actual count is printed beside it) — the head, N
//     embedding rows, and N caches at the mean context P + (n+1)/2.
//   FLOPs: N x (2 x the matmul weights a token multiplies + attention at that context + 2 vocab
//     hidden for its logits).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

#include "commands.h"
#include "engine/engine.h"

namespace dsx::cli {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct BenchArgs {
  std::string model;
  std::string load = "auto";  // LoadMode (io.h)
  int prompt = 512;
  int decode = 128;
  int threads = 0;
  int reps = 1;
  int batch = 1;          // sequences decoded together in the batched phase (1: none)
  int batch_prompt = 32;  // prompt tokens of each of them
  bool json = false;
  uint64_t seed = 1;
};

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Bytes of a stored weight, block scales included.
double bytes_of(const WeightView& w) {
  if (!w.data) return 0.0;
  double b = static_cast<double>(w.rows) * static_cast<double>(w.cols) * dtype_size(w.type);
  if (w.block_scale)
    b += 4.0 * static_cast<double>((w.rows + w.block - 1) / w.block) *
         static_cast<double>((w.cols + w.block - 1) / w.block);
  return b;
}
double params_of(const WeightView& w) {
  return w.data ? static_cast<double>(w.rows) * static_cast<double>(w.cols) : 0.0;
}
double mlp_bytes(const MlpWeights& m) {
  return bytes_of(m.gate) + bytes_of(m.up) + bytes_of(m.down);
}
double mlp_params(const MlpWeights& m) {
  return params_of(m.gate) + params_of(m.up) + params_of(m.down);
}

const char* short_dtype(DType t) {
  switch (t) {
    case DType::BF16:
      return "bf16";
    case DType::F16:
      return "f16";
    case DType::F32:
      return "f32";
    case DType::F8_E4M3:
      return "fp8_e4m3";
    default:
      return dtype_name(t);
  }
}

// What one token costs, from the config and the stored weights.
struct Costs {
  double matmul_params = 0;  // weights a token multiplies in the layers (no head)
  double layer_bytes = 0;    // their stored bytes, norms included
  double head_params = 0, head_bytes = 0, embed_row_bytes = 0, final_norm_bytes = 0;
  double attn_flops_per_key = 0;  // all layers, all heads, per cached position attended
  // The same in the expanded form, and its cost of multiplying one cached position out again.
  double expanded_flops_per_key = 0, expand_flops_per_key = 0;
  double kv_bytes_per_key = 0;  // all main layers, per cached position read
  // For the batch: how many layers have routed experts, and one expert's bytes.
  double moe_layers = 0, expert_bytes = 0;
};

Costs count_costs(const Model& model) {
  const ModelConfig& c = model.config();
  const ModelWeights& w = model.weights();
  Costs k;
  for (const LayerWeights& l : w.layers) {
    const MlaWeights& a = l.attn;
    for (const WeightView* v : {&a.q_a, &a.q_b, &a.q, &a.kv_a, &a.kv_b, &a.o}) {
      k.matmul_params += params_of(*v);
      k.layer_bytes += bytes_of(*v);
    }
    k.layer_bytes += bytes_of(a.q_a_norm) + bytes_of(a.kv_a_norm) + bytes_of(l.input_norm) +
                     bytes_of(l.post_attn_norm);
    if (!l.moe) {
      k.matmul_params += mlp_params(l.mlp);
      k.layer_bytes += mlp_bytes(l.mlp);
      continue;
    }
    const MoeWeights& m = l.experts;
    const double kk = static_cast<double>(c.num_experts_per_tok);
    k.matmul_params += params_of(m.router) + kk * mlp_params(m.experts.at(0));
    k.layer_bytes += bytes_of(m.router) + 4.0 * static_cast<double>(m.bias.size()) +
                     kk * mlp_bytes(m.experts.at(0));
    k.moe_layers += 1.0;
    k.expert_bytes = mlp_bytes(m.experts.at(0));
    if (m.shared) {
      k.matmul_params += mlp_params(*m.shared);
      k.layer_bytes += mlp_bytes(*m.shared);
    }
  }
  k.head_params = params_of(w.lm_head);
  k.head_bytes = bytes_of(w.lm_head);
  k.embed_row_bytes = static_cast<double>(w.embed.cols) * dtype_size(w.embed.type);
  k.final_norm_bytes = bytes_of(w.final_norm);
  const double layers = static_cast<double>(c.num_hidden_layers);
  const double heads = static_cast<double>(c.num_attention_heads);
  const double lora = static_cast<double>(c.kv_lora_rank),
               rope = static_cast<double>(c.qk_rope_head_dim);
  k.attn_flops_per_key = layers * heads * (2.0 * (lora + rope) + 2.0 * lora);
  k.expanded_flops_per_key =
      layers * heads * 2.0 * static_cast<double>(c.qk_head_dim() + c.v_head_dim);
  k.expand_flops_per_key =
      layers * heads * 2.0 * static_cast<double>(c.qk_nope_head_dim + c.v_head_dim) * lora;
  k.kv_bytes_per_key = layers * (lora + rope) * 4.0;
  return k;
}

std::string human_bytes(double b) {
  char buf[32];
  if (b >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2f GB", b / 1e9);
  else if (b >= 1e6)
    std::snprintf(buf, sizeof buf, "%.1f MB", b / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.1f KB", b / 1e3);
  return buf;
}

void progress(bool tty, const char* text) {
  if (!tty) return;
  std::fprintf(stderr, "\r\033[Kbench: %s", text);
  std::fflush(stderr);
}

int32_t argmax(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
  return best;
}

// The batched phase's timing (best rep) and what the last MoE layer routed to.
struct BatchRun {
  double prefill_s = 1e30, decode_s = 1e30;
  double last_layer_experts = 0;  // distinct experts of the last MoE layer, mean over steps
};

// N sequences prefilled one by one, then `steps` decode steps of one forward pass over one token
// of each, greedy. The step is built as the scheduler builds it (engine/scheduler.cc), with the
// cache reserved beforehand so a step times only the forward pass and the argmaxes.
BatchRun run_batch(const BenchArgs& a, const Model& model, Runner& runner,
                   const std::function<int32_t()>& random_token, bool tty) {
  const ModelConfig& c = model.config();
  const int64_t vocab = c.vocab_size, k = c.num_experts_per_tok;
  const int n = a.batch;
  const bool last_moe = c.is_moe_layer(c.num_hidden_layers - 1);
  std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(n));
  for (auto& p : prompts) {
    p.resize(static_cast<size_t>(a.batch_prompt));
    for (int32_t& t : p) t = random_token();
  }
  BatchRun best;
  ForwardOutput out;
  std::vector<int32_t> tokens(n), positions(n), seqs(n), rows(n);
  std::vector<char> seen(static_cast<size_t>(std::max<int64_t>(1, c.n_routed_experts)));
  for (int rep = 0; rep < a.reps; ++rep) {
    char text[80];
    std::snprintf(text, sizeof text, "batch: prefill %d x %d tokens (rep %d/%d)", n, a.batch_prompt,
                  rep + 1, a.reps);
    progress(tty, text);
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
      seqs[i] = runner.new_sequence();
      tokens[i] = argmax(runner.append(seqs[i], prompts[i]));
      positions[i] = a.batch_prompt;
      rows[i] = i;
      if (!runner.cache().reserve(seqs[i], static_cast<int64_t>(a.batch_prompt) + a.decode))
        throw Error("--batch: the kv cache has no room for " + std::to_string(n) + " sequences");
    }
    best.prefill_s = std::min(best.prefill_s, seconds_since(t0));
    std::snprintf(text, sizeof text, "batch: decode %d x %d tokens (rep %d/%d)", n, a.decode,
                  rep + 1, a.reps);
    progress(tty, text);
    double experts = 0;
    t0 = Clock::now();
    for (int step = 0; step < a.decode; ++step) {
      model.forward(ForwardBatch{tokens, positions, seqs, rows}, runner.cache(), runner.pool(),
                    out);
      for (int i = 0; i < n; ++i) {
        tokens[i] = argmax(
            std::span<const float>(out.logits.data() + i * vocab, static_cast<size_t>(vocab)));
        ++positions[i];
      }
      // The workspace still holds the last layer's choices (n x top_k ids): a check on the bound.
      if (last_moe) {
        std::fill(seen.begin(), seen.end(), 0);
        for (int64_t j = 0; j < n * k; ++j) seen[out.ws.topk_ids[j]] = 1;
        experts += static_cast<double>(std::count(seen.begin(), seen.end(), 1));
      }
    }
    const double s = seconds_since(t0);
    if (s < best.decode_s) {
      best.decode_s = s;
      best.last_layer_experts = experts / a.decode;
    }
    for (int32_t seq : seqs) runner.free_sequence(seq);
  }
  return best;
}

int run_bench(const BenchArgs& a) {
  const bool tty = ::isatty(STDERR_FILENO);
  progress(tty, "loading the model");
  const auto t_load = Clock::now();
  std::shared_ptr<const Model> model = Model::load(a.model, parse_load_mode(a.load));
  const double load_s = seconds_since(t_load);
  const ModelConfig& c = model->config();

  // The file's parameters (MTP layers included, block scales not) and the layers' weight type.
  double params = 0, file_bytes = 0;
  {
    const SafeTensors st = SafeTensors::open_dir(a.model);
    for (const std::string& name : st.names()) {
      const TensorInfo& t = st.get(name);
      file_bytes += static_cast<double>(t.nbytes);
      if (name.size() < 10 || name.compare(name.size() - 10, 10, "_scale_inv") != 0)
        params += static_cast<double>(t.numel());
    }
  }
  const DType layer_dtype = model->weights().layers.at(0).attn.o.type;

  const bool batched = a.batch > 1;
  if (batched && a.decode == 0) throw Error("--batch: needs decode steps (-n > 0)");
  EngineOptions options;
  options.threads = a.threads;
  options.ctx_size =
      static_cast<int64_t>(std::max(a.prompt, batched ? a.batch_prompt : 0)) + a.decode;
  options.max_sequences = std::max(1, a.batch);
  if (options.ctx_size > c.max_position_embeddings)
    throw Error(std::string(batched ? "-p/-n/--batch-prompt: " : "-p/-n: ") +
                std::to_string(options.ctx_size) + " positions exceed the model's " +
                "max_position_embeddings " + std::to_string(c.max_position_embeddings));
  Runner runner(model, options);
  const int threads = runner.pool().size();

  // Random prompt tokens, the same for a seed.
  uint64_t state = a.seed * 0x9E3779B97F4A7C15ull + 1;
  const std::function<int32_t()> random_token = [&state, &c]() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<int32_t>(state % static_cast<uint64_t>(c.vocab_size));
  };
  std::vector<int32_t> prompt(static_cast<size_t>(a.prompt));
  for (int32_t& t : prompt) t = random_token();

  // Warm-up: a short prefill faults the mapped weights in (and routes to most experts), so the
  // timed runs measure the engine, not the page cache.
  {
    progress(tty, "warm-up");
    const int32_t seq = runner.new_sequence();
    const size_t w = std::min<size_t>(prompt.size(), 64);
    runner.append(seq, std::span<const int32_t>(prompt.data(), w));
    runner.free_sequence(seq);
  }

  double prefill_s = 1e30, decode_s = 1e30;
  for (int rep = 0; rep < a.reps; ++rep) {
    char text[64];
    std::snprintf(text, sizeof text, "prefill %d tokens (rep %d/%d)", a.prompt, rep + 1, a.reps);
    progress(tty, text);
    const int32_t seq = runner.new_sequence();
    auto t0 = Clock::now();
    std::span<const float> logits = runner.append(seq, prompt);
    prefill_s = std::min(prefill_s, seconds_since(t0));
    std::snprintf(text, sizeof text, "decode %d tokens (rep %d/%d)", a.decode, rep + 1, a.reps);
    progress(tty, text);
    t0 = Clock::now();
    for (int i = 0; i < a.decode; ++i) {
      const int32_t next = argmax(logits);
      logits = runner.append(seq, std::span<const int32_t>(&next, 1));
    }
    if (a.decode > 0) decode_s = std::min(decode_s, seconds_since(t0));
    runner.free_sequence(seq);
  }
  // The batch's prompts continue the same random stream.
  const BatchRun br = batched ? run_batch(a, *model, runner, random_token, tty) : BatchRun{};

  // Peak RSS before the machine measurements, whose read buffer would dominate it.
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double peak_rss = static_cast<double>(usage.ru_maxrss) * 1024.0;

  // The limits move with the neighbours on a shared host: bandwidth is measured on both sides of
  // the FMA peak (about a second apart) and the better figure kept, the limit being the most the
  // machine was seen to do.
  progress(tty, "measuring read bandwidth");
  double bw_gbs = kernels::measure_read_bandwidth_gbs(&runner.pool());
  progress(tty, "measuring FMA peak");
  const double peak_gflops = kernels::measure_fma_peak_gflops(&runner.pool());
  progress(tty, "measuring read bandwidth");
  bw_gbs = std::max(bw_gbs, kernels::measure_read_bandwidth_gbs(&runner.pool()));
  if (tty) std::fprintf(stderr, "\r\033[K");

  const Costs k = count_costs(*model);
  const double p = a.prompt, n = a.decode;
  const double prefill_ctx = (p + 1.0) / 2.0;
  double prefill_attn = 0;  // the whole prompt's attention FLOPs, chunk by chunk
  for (int64_t b = 0, chunk = options.prefill_chunk; b < a.prompt; b += chunk) {
    const int64_t rows = std::min<int64_t>(chunk, a.prompt - b);
    const double pairs = static_cast<double>(rows) * static_cast<double>(b) +
                         static_cast<double>(rows) * static_cast<double>(rows + 1) / 2.0;
    prefill_attn +=
        expanded_is_cheaper(c, b, rows)
            ? pairs * k.expanded_flops_per_key + static_cast<double>(b) * k.expand_flops_per_key
            : pairs * k.attn_flops_per_key;
  }
  const double prefill_flops = 2.0 * k.matmul_params + prefill_attn / p + 2.0 * k.head_params / p;
  const double prefill_tps = p / prefill_s;
  const double prefill_gflops = prefill_flops * prefill_tps / 1e9;
  const double decode_ctx = p + (n + 1.0) / 2.0;
  const double weight_bytes = k.layer_bytes + k.head_bytes + k.embed_row_bytes + k.final_norm_bytes;
  const double kv_read = k.kv_bytes_per_key * decode_ctx;
  const double decode_bytes = weight_bytes + kv_read;
  const double decode_tps = a.decode > 0 ? n / decode_s : 0.0;
  const double decode_gbs = decode_bytes * decode_tps / 1e9;
  const double kv_per_token = static_cast<double>(runner.cache().bytes_per_token());
  const char* backend = kernels::backend_name(kernels::best_backend());

  json j;
  j["model"] = {{"dir", a.model},
                {"model_type", c.model_type},
                {"layers", c.num_hidden_layers},
                {"mtp_layers", c.num_nextn_predict_layers},
                {"hidden", c.hidden_size},
                {"heads", c.num_attention_heads},
                {"experts", c.n_routed_experts},
                {"experts_per_tok", c.num_experts_per_tok},
                {"shared_experts", c.n_shared_experts},
                {"vocab", c.vocab_size},
                {"params", params},
                {"file_bytes", file_bytes},
                {"weight_dtype", short_dtype(layer_dtype)},
                {"head_dtype", short_dtype(model->weights().lm_head.type)}};
  j["threads"] = threads;
  j["backend"] = backend;
  j["prompt_tokens"] = a.prompt;
  j["decode_tokens"] = a.decode;
  j["context"] = a.prompt + a.decode;
  j["reps"] = a.reps;
  j["load_seconds"] = load_s;
  j["weights"] = model->weights_copied() ? "copied" : "mapped";
  j["machine"] = {
      {"read_bandwidth_gbs", bw_gbs}, {"fma_peak_gflops", peak_gflops}, {"threads", threads}};
  j["prefill"] = {{"tokens_per_s", prefill_tps},
                  {"seconds", prefill_s},
                  {"flops_per_token", prefill_flops},
                  {"mean_context", prefill_ctx},
                  {"gflops", prefill_gflops},
                  {"flop_limit_tokens_per_s", peak_gflops * 1e9 / prefill_flops},
                  {"share_of_flop_peak", peak_gflops > 0 ? prefill_gflops / peak_gflops : 0.0}};
  j["decode"] = {{"tokens_per_s", decode_tps},
                 {"seconds", a.decode > 0 ? decode_s : 0.0},
                 {"bytes_per_token", decode_bytes},
                 {"weight_bytes_per_token", weight_bytes},
                 {"kv_bytes_read_per_token", kv_read},
                 {"mean_context", decode_ctx},
                 {"routed_experts_per_layer", c.num_experts_per_tok},
                 {"gbs", decode_gbs},
                 {"bandwidth_limit_tokens_per_s", bw_gbs * 1e9 / decode_bytes},
                 {"share_of_bandwidth", bw_gbs > 0 ? decode_gbs / bw_gbs : 0.0}};
  j["memory"] = {{"peak_rss_bytes", peak_rss}, {"kv_cache_bytes_per_token", kv_per_token}};

  // The batched phase's figures (see the top of the file).
  const double nb = a.batch, kk = static_cast<double>(c.num_experts_per_tok);
  const double routed = std::min(static_cast<double>(c.n_routed_experts), nb * kk);
  const double batch_ctx = a.batch_prompt + (n + 1.0) / 2.0;
  const double batch_weights = k.layer_bytes + k.moe_layers * (routed - kk) * k.expert_bytes +
                               k.head_bytes + nb * k.embed_row_bytes + k.final_norm_bytes;
  const double batch_kv = nb * k.kv_bytes_per_key * batch_ctx;
  const double batch_bytes = batch_weights + batch_kv;
  const double batch_flops =
      nb * (2.0 * k.matmul_params + k.attn_flops_per_key * batch_ctx + 2.0 * k.head_params);
  const double batch_steps_s = batched ? n / br.decode_s : 0.0;
  const double batch_tps = nb * batch_steps_s;
  const double batch_gbs = batch_bytes * batch_steps_s / 1e9;
  const double batch_gflops = batch_flops * batch_steps_s / 1e9;
  if (batched)
    j["batch_decode"] = {
        {"sequences", a.batch},
        {"prompt_tokens", a.batch_prompt},
        {"steps", a.decode},
        {"prefill_seconds", br.prefill_s},
        {"seconds", br.decode_s},
        {"tokens_per_s", batch_tps},
        {"ms_per_step", 1e3 / batch_steps_s},
        {"times_one_stream", decode_tps > 0 ? batch_tps / decode_tps : 0.0},
        {"mean_context", batch_ctx},
        {"routed_experts_per_layer_bound", routed},
        {"last_layer_experts_seen", br.last_layer_experts},
        {"bytes_per_step", batch_bytes},
        {"weight_bytes_per_step", batch_weights},
        {"kv_bytes_read_per_step", batch_kv},
        {"gbs", batch_gbs},
        {"share_of_bandwidth", bw_gbs > 0 ? batch_gbs / bw_gbs : 0.0},
        {"flops_per_step", batch_flops},
        {"gflops", batch_gflops},
        {"share_of_flop_peak", peak_gflops > 0 ? batch_gflops / peak_gflops : 0.0}};

  if (a.json) {
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf(
      "model    %s: %s, %lld layers (+%lld MTP), hidden %lld, %lld heads, %lld experts "
      "(top-%lld + %lld shared), vocab %lld, %.1fM params, weights %s (head %s), %s on disk\n",
      a.model.c_str(), c.model_type.c_str(), (long long)c.num_hidden_layers,
      (long long)c.num_nextn_predict_layers, (long long)c.hidden_size,
      (long long)c.num_attention_heads, (long long)c.n_routed_experts,
      (long long)c.num_experts_per_tok, (long long)c.n_shared_experts, (long long)c.vocab_size,
      params / 1e6, short_dtype(layer_dtype), short_dtype(model->weights().lm_head.type),
      human_bytes(file_bytes).c_str());
  std::printf(
      "run      %d thread%s (%s), prompt %d + decode %d = context %d, best of %d rep%s, "
      "loaded (%s) in %.2f s\n",
      threads, threads == 1 ? "" : "s", backend, a.prompt, a.decode, a.prompt + a.decode, a.reps,
      a.reps == 1 ? "" : "s", model->weights_copied() ? "copied" : "mapped", load_s);
  std::printf("machine  read bandwidth %.1f GB/s, float32 FMA peak %.1f GFLOP/s (%d thread%s)\n",
              bw_gbs, peak_gflops, threads, threads == 1 ? "" : "s");
  std::printf(
      "prefill  %.1f tok/s (%.3f s): %.3f GFLOP/token at mean context %.0f -> %.1f GFLOP/s "
      "= %.1f%% of FMA peak (limit %.1f tok/s)\n",
      prefill_tps, prefill_s, prefill_flops / 1e9, prefill_ctx, prefill_gflops,
      100.0 * prefill_gflops / peak_gflops, peak_gflops * 1e9 / prefill_flops);
  if (a.decode > 0)
    std::printf(
        "decode   %.2f tok/s (%.3f s): %s/token (weights %s with %lld routed experts a "
        "layer, KV %s at mean context %.0f) -> %.2f GB/s = %.1f%% of bandwidth "
        "(limit %.1f tok/s)\n",
        decode_tps, decode_s, human_bytes(decode_bytes).c_str(), human_bytes(weight_bytes).c_str(),
        (long long)c.num_experts_per_tok, human_bytes(kv_read).c_str(), decode_ctx, decode_gbs,
        100.0 * decode_gbs / bw_gbs, bw_gbs * 1e9 / decode_bytes);
  if (batched) {
    char seen_text[48] = "";
    if (c.is_moe_layer(c.num_hidden_layers - 1))
      std::snprintf(seen_text, sizeof seen_text, ": the last layer used %.1f",
                    br.last_layer_experts);
    std::printf(
        "batch    %d sequences x %d steps: %.2f tok/s = %.2fx of one stream, %.1f ms/step "
        "(%.3f s; prefill %d x %d in %.3f s)\n"
        "         %s/step (weights %s with at most %.0f routed experts a layer, an upper bound%s; "
        "KV %s at mean context %.0f) -> %.2f GB/s = %.1f%% of "
        "bandwidth; %.3f GFLOP/step -> %.1f GFLOP/s = %.1f%% of FMA peak\n",
        a.batch, a.decode, batch_tps, decode_tps > 0 ? batch_tps / decode_tps : 0.0,
        1e3 / batch_steps_s, br.decode_s, a.batch, a.batch_prompt, br.prefill_s,
        human_bytes(batch_bytes).c_str(), human_bytes(batch_weights).c_str(), routed, seen_text,
        human_bytes(batch_kv).c_str(), batch_ctx, batch_gbs, 100.0 * batch_gbs / bw_gbs,
        batch_flops / 1e9, batch_gflops, 100.0 * batch_gflops / peak_gflops);
  }
  std::printf("memory   peak RSS %s, KV cache %s/token (%lld cache layers x %lld floats)\n",
              human_bytes(peak_rss).c_str(), human_bytes(kv_per_token).c_str(),
              (long long)model->cache_layers(), (long long)(c.kv_lora_rank + c.qk_rope_head_dim));
  return 0;
}

}  // namespace

Command add_bench(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  app.add_option("-m,--model", args->model, "model folder (config.json + safetensors)")->required();
  app.add_option("--load", args->load,
                 "how weights come into memory: auto (copy when they fit in half the free memory), "
                 "map, copy")
      ->check(CLI::IsMember({"auto", "map", "copy"}));
  app.add_option("-p,--n-prompt", args->prompt, "prompt tokens (random ids) to prefill")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("-n,--n-gen", args->decode, "tokens to decode after the prompt")
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("-t,--threads", args->threads, "threads (0: all cores)")
      ->check(CLI::Range(0, 1024));
  app.add_option("-r,--reps", args->reps, "repetitions; the best time of each phase is reported")
      ->check(CLI::Range(1, 1000));
  app.add_option("-b,--batch", args->batch,
                 "also decode this many sequences together, one forward pass a step (1: no)")
      ->check(CLI::Range(1, 4096));
  app.add_option("--batch-prompt", args->batch_prompt,
                 "prompt tokens (random ids) of each batched sequence")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--seed", args->seed, "seed of the random prompt");
  app.add_flag("--json", args->json, "print one JSON object instead of text");
  return [args]() { return run_bench(*args); };
}

}  // namespace dsx::cli
