// dsx verify: compares the engine with a reference.safetensors (the format of the goldens README):
// logits, hidden states and MTP logits of every prompt, both in one full pass and token by token
// through the latent cache, and greedy continuations token for token.
#include <cmath>
#include <cstdio>
#include <map>

#include "commands.h"
#include "engine/engine.h"
#include "sampling/sampling.h"

namespace dsx::cli {

namespace {

struct VerifyArgs {
  std::string model;
  std::string load = "auto";  // LoadMode (io.h)
  std::string reference;
  double tol = 1e-4;
  double mtp_tol = 0.0;  // 0: same as tol
  int max_bad_rows = 0;
  int threads = 0;
};

std::vector<float> read_f32(const TensorInfo& t) {
  if (t.dtype != DType::F32) throw Error(t.file + ": tensor '" + t.name + "' must be F32");
  const float* p = static_cast<const float*>(t.data);
  return std::vector<float>(p, p + t.numel());
}

std::vector<int32_t> read_ids(const TensorInfo& t) {
  if (t.dtype != DType::I32 || t.shape.size() != 1)
    throw Error(t.file + ": tensor '" + t.name + "' must be a 1-D I32 tensor");
  const int32_t* p = static_cast<const int32_t*>(t.data);
  return std::vector<int32_t>(p, p + t.numel());
}

double rel_err(std::span<const float> out, std::span<const float> ref) {
  if (out.size() != ref.size()) return INFINITY;
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = static_cast<double>(out[i]) - ref[i];
    diff += d * d;
    norm += static_cast<double>(ref[i]) * ref[i];
  }
  if (std::isnan(diff)) return INFINITY;
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

// Runs the model over sequences in a private cache, one forward pass per call.
class Harness {
 public:
  Harness(const Model& m, int threads, int64_t max_len)
      : m_(m),
        pool_(threads),
        cache_(m.cache_layers(), m.config().kv_lora_rank, m.config().qk_rope_head_dim,
               (max_len + 15) / 16 + 1, 16, max_len) {}

  // Forward of tokens at positions [start, start+n) of a sequence; logits of every row.
  ForwardOutput& forward(int32_t seq, std::span<const int32_t> tokens, int64_t start,
                         bool capture) {
    const int64_t n = static_cast<int64_t>(tokens.size());
    if (!cache_.reserve(seq, start + n)) throw Error("verify: cache too small");
    std::vector<int32_t> pos(n), seqs(n, seq), rows(n);
    for (int64_t i = 0; i < n; ++i)
      pos[i] = static_cast<int32_t>(start + i), rows[i] = static_cast<int32_t>(i);
    out_.capture_hidden = capture;
    m_.forward(ForwardBatch{tokens, pos, seqs, rows}, cache_, pool_, out_);
    return out_;
  }
  ForwardOutput& mtp(int32_t seq, std::span<const int32_t> tokens, int64_t start,
                     std::span<const float> hidden) {
    const int64_t n = static_cast<int64_t>(tokens.size());
    std::vector<int32_t> pos(n), seqs(n, seq);
    for (int64_t i = 0; i < n; ++i) pos[i] = static_cast<int32_t>(start + i);
    m_.forward_mtp(0, ForwardBatch{tokens, pos, seqs, {}}, hidden, cache_, pool_, mtp_out_);
    return mtp_out_;
  }
  int32_t fresh() {
    cache_.remove_sequence(0);
    return cache_.add_sequence();
  }

 private:
  const Model& m_;
  ThreadPool pool_;
  LatentCache cache_;
  ForwardOutput out_, mtp_out_;
};

class Report {
 public:
  Report(double tol, int max_bad_rows) : tol_(tol), max_bad_rows_(max_bad_rows) {}
  // Compares [rows, width] tensors. Passes when the relative error is under tol; with
  // --max-bad-rows N, up to N rows (positions) may exceed tol if the remaining rows together
  // stay under it (for references with known near-ties; each such row is named).
  void compare(const std::string& what, std::span<const float> out, std::span<const float> ref,
               int64_t width, double tol) {
    const double err = rel_err(out, ref);
    bool ok = err < tol;
    std::vector<int64_t> bad;
    double rest = err;
    if (!ok && out.size() == ref.size() && width > 0) {
      const int64_t rows = static_cast<int64_t>(ref.size()) / width;
      std::vector<float> keep_out, keep_ref;
      for (int64_t r = 0; r < rows; ++r) {
        auto o = out.subspan(r * width, width), f = ref.subspan(r * width, width);
        if (rel_err(o, f) >= tol) {
          bad.push_back(r);
        } else {
          keep_out.insert(keep_out.end(), o.begin(), o.end());
          keep_ref.insert(keep_ref.end(), f.begin(), f.end());
        }
      }
      rest = rel_err(keep_out, keep_ref);
      ok = static_cast<int>(bad.size()) <= max_bad_rows_ && rest < tol;
    }
    failures_ += !ok;
    std::printf("%-4s %-36s rel_err %.3e", ok ? "ok" : "FAIL", what.c_str(), err);
    if (!bad.empty()) {
      std::printf("  (%zu rows over %.0e:", bad.size(), tol);
      for (size_t i = 0; i < bad.size() && i < 8; ++i)
        std::printf(" %lld", static_cast<long long>(bad[i]));
      std::printf("%s; other rows %.3e)", bad.size() > 8 ? " ..." : "", rest);
    }
    std::printf("\n");
  }
  void match(const std::string& what, const std::vector<int32_t>& got,
             const std::vector<int32_t>& want) {
    size_t same = 0;
    while (same < got.size() && same < want.size() && got[same] == want[same]) ++same;
    const bool ok = got == want;
    failures_ += !ok;
    std::printf("%-4s %-36s %zu/%zu tokens match\n", ok ? "ok" : "FAIL", what.c_str(), same,
                want.size());
  }
  int failures() const { return failures_; }

 private:
  double tol_;
  int max_bad_rows_;
  int failures_ = 0;
};

}  // namespace

Command add_verify(CLI::App& app) {
  auto args = std::make_shared<VerifyArgs>();
  app.add_option("-m,--model", args->model, "model folder")->required();
  app.add_option("--load", args->load,
                 "how weights come into memory: auto (copy when they fit in half the free memory), "
                 "map, copy")
      ->check(CLI::IsMember({"auto", "map", "copy"}));
  app.add_option("-r,--reference", args->reference, "reference.safetensors")->required();
  app.add_option("--tol", args->tol, "largest relative error accepted")->check(CLI::PositiveNumber);
  app.add_option("--mtp-tol", args->mtp_tol,
                 "largest relative error accepted for MTP logits (default: --tol)")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-bad-rows", args->max_bad_rows,
                 "positions per tensor allowed over the tolerance (named in the output)")
      ->check(CLI::Range(0, 1 << 30));
  app.add_option("-t,--threads", args->threads, "threads (0: all cores)")
      ->check(CLI::Range(0, 1024));
  return [args]() {
    const double tol = args->tol, mtp_tol = args->mtp_tol > 0 ? args->mtp_tol : args->tol;
    SafeTensors ref = SafeTensors::open_file(args->reference);
    std::unique_ptr<Model> model = Model::load(args->model, parse_load_mode(args->load));
    const ModelConfig& c = model->config();
    const int64_t vocab = c.vocab_size, hidden = c.hidden_size;
    Report report(args->tol, args->max_bad_rows);
    int checks = 0;

    for (int p = 0;; ++p) {
      const std::string pre = "prompt" + std::to_string(p) + ".";
      const TensorInfo* ids_t = ref.find(pre + "input_ids");
      if (!ids_t) break;
      const std::vector<int32_t> ids = read_ids(*ids_t);
      const int64_t n = static_cast<int64_t>(ids.size());
      const std::vector<float> want = read_f32(ref.get(pre + "logits"));
      if (static_cast<int64_t>(want.size()) != n * vocab)
        throw Error(args->reference + ": tensor '" + pre +
                    "logits' does not match the model's vocabulary");
      Harness h(*model, args->threads, n + 1);

      // Full pass: every position in one forward.
      int32_t seq = h.fresh();
      ForwardOutput& full = h.forward(seq, ids, 0, true);
      report.compare(pre + "logits full", full.logits, want, vocab, tol);
      ++checks;
      for (int64_t l = 0; l <= c.num_hidden_layers; ++l) {
        const TensorInfo* t = ref.find(pre + "hidden." + std::to_string(l));
        if (!t) continue;
        report.compare(pre + "hidden." + std::to_string(l) + " full", full.hidden[l], read_f32(*t),
                       hidden, tol);
      }
      const TensorInfo* mtp_t = ref.find(pre + "mtp_logits");
      std::vector<float> final_hidden = full.final_hidden;
      if (mtp_t && n > 1) {
        if (model->weights().mtp.empty())
          throw Error(args->model + ": reference has MTP logits, model has no MTP layer");
        ForwardOutput& m = h.mtp(seq, std::span<const int32_t>(ids).subspan(1), 0,
                                 std::span<const float>(final_hidden).first((n - 1) * hidden));
        report.compare(pre + "mtp_logits full", m.logits, read_f32(*mtp_t), vocab, mtp_tol);
      }

      // Through the cache, one token at a time (MTP alongside, one position behind).
      seq = h.fresh();
      std::vector<float> step_logits, step_mtp;
      for (int64_t i = 0; i < n; ++i) {
        ForwardOutput& o = h.forward(seq, std::span<const int32_t>(ids).subspan(i, 1), i, false);
        step_logits.insert(step_logits.end(), o.logits.begin(), o.logits.end());
        if (mtp_t && i + 1 < n) {
          std::vector<float> hrow = o.final_hidden;
          ForwardOutput& m = h.mtp(seq, std::span<const int32_t>(ids).subspan(i + 1, 1), i, hrow);
          step_mtp.insert(step_mtp.end(), m.logits.begin(), m.logits.end());
        }
      }
      report.compare(pre + "logits cached", step_logits, want, vocab, tol);
      if (mtp_t && n > 1)
        report.compare(pre + "mtp_logits cached", step_mtp, read_f32(*mtp_t), vocab, mtp_tol);
    }

    for (int g = 0;; ++g) {
      const std::string pre = "greedy" + std::to_string(g) + ".";
      const TensorInfo* prompt_t = ref.find(pre + "prompt");
      if (!prompt_t) break;
      const std::vector<int32_t> prompt = read_ids(*prompt_t);
      const std::vector<int32_t> want = read_ids(ref.get(pre + "output"));
      const int64_t total = static_cast<int64_t>(prompt.size() + want.size());
      Harness h(*model, args->threads, total + 1);
      // Full recompute: the whole sequence again at every step.
      std::vector<int32_t> tokens = prompt, got;
      for (size_t i = 0; i < want.size(); ++i) {
        const int32_t seq = h.fresh();
        ForwardOutput& o = h.forward(seq, tokens, 0, false);
        const int32_t next = argmax(std::span<const float>(o.logits).last(vocab));
        got.push_back(next);
        tokens.push_back(next);
      }
      report.match(pre + "output full recompute", got, want);
      ++checks;
      // Through the cache: prefill, then one token at a time.
      got.clear();
      const int32_t seq = h.fresh();
      ForwardOutput* o = &h.forward(seq, prompt, 0, false);
      int64_t pos = static_cast<int64_t>(prompt.size());
      for (size_t i = 0; i < want.size(); ++i) {
        const int32_t next = argmax(std::span<const float>(o->logits).last(vocab));
        got.push_back(next);
        if (i + 1 < want.size())
          o = &h.forward(seq, std::span<const int32_t>(&next, 1), pos++, false);
      }
      report.match(pre + "output cached", got, want);
    }
    if (checks == 0)
      throw Error(args->reference + ": no promptN.input_ids or greedyN.prompt tensors");
    std::printf("%s: %d failed checks\n", report.failures() ? "FAIL" : "PASS", report.failures());
    return report.failures() ? 1 : 0;
  };
}

}  // namespace dsx::cli
