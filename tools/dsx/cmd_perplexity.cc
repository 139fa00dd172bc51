// dsx perplexity: exp(mean negative log-likelihood) of held-out tokens, in windows that each
// start with an empty cache and are scored on their next `ctx` tokens.
#include <cmath>
#include <cstdio>

#include "text.h"

namespace dsx::cli {

namespace {
struct PerplexityArgs {
  ModelFlags model;
  std::string file;       // text file, tokenized
  std::string reference;  // safetensors holding token ids
  std::string tensor = "heldout.input_ids";
  int64_t window = 512;
  int64_t windows = 0;  // 0: as many as fit
};
}  // namespace

Command add_perplexity(CLI::App& app) {
  auto args = std::make_shared<PerplexityArgs>();
  args->model.add(app);
  app.add_option("-f,--file", args->file,
                 "text file to score (tokenized with the model's tokenizer)");
  app.add_option("--ids", args->reference,
                 "safetensors file with token ids (default: MODEL/reference.safetensors)");
  app.add_option("--tensor", args->tensor, "tensor of token ids in --ids");
  app.add_option("--window", args->window, "tokens scored per window")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  app.add_option("--windows", args->windows, "windows to score (0: all that fit)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 20));
  return [args]() {
    std::vector<int32_t> ids;
    if (!args->file.empty()) {
      const Tokenizer tok = Tokenizer::load(args->model.model);
      std::string text = read_text_file(args->file);
      check_utf8(text, args->file);
      ids = tok.encode(text);
    } else {
      const std::string path =
          args->reference.empty() ? args->model.model + "/reference.safetensors" : args->reference;
      SafeTensors st = SafeTensors::open_file(path);
      const TensorInfo& t = st.get(args->tensor);
      if (t.dtype != DType::I32 || t.shape.size() != 1)
        throw Error(path + ": tensor '" + args->tensor + "' must be a 1-D I32 tensor");
      const int32_t* p = static_cast<const int32_t*>(t.data);
      ids.assign(p, p + t.numel());
    }
    const int64_t w = args->window;
    int64_t windows = (static_cast<int64_t>(ids.size()) - 1) / w;
    if (args->windows > 0) windows = std::min(windows, args->windows);
    if (windows < 1)
      throw Error("perplexity: " + std::to_string(ids.size()) +
                  " tokens are fewer than one window of " + std::to_string(w) + " + 1");
    std::shared_ptr<const Model> model =
        Model::load(args->model.model, parse_load_mode(args->model.load));
    EngineOptions o;
    o.threads = args->model.threads;
    o.ctx_size = w;
    Runner runner(model, o);
    const int64_t vocab = model->config().vocab_size;
    double nll = 0.0;
    for (int64_t k = 0; k < windows; ++k) {
      const int32_t seq = runner.new_sequence();
      std::span<const int32_t> input(ids.data() + k * w, static_cast<size_t>(w));
      std::span<const float> logits = runner.append_all_logits(seq, input);
      double window_nll = 0.0;
      for (int64_t i = 0; i < w; ++i) {
        const float* row = logits.data() + i * vocab;
        double max = row[0];
        for (int64_t v = 1; v < vocab; ++v) max = std::max<double>(max, row[v]);
        double sum = 0.0;
        for (int64_t v = 0; v < vocab; ++v) sum += std::exp(row[v] - max);
        const int32_t target = ids[k * w + i + 1];
        window_nll += -(row[target] - max - std::log(sum));
      }
      runner.free_sequence(seq);
      nll += window_nll;
      std::fprintf(stderr, "window %lld/%lld: perplexity %.4f\n", static_cast<long long>(k + 1),
                   static_cast<long long>(windows), std::exp(window_nll / w));
    }
    std::printf("perplexity %.4f over %lld tokens (%lld windows of %lld)\n",
                std::exp(nll / (windows * w)), static_cast<long long>(windows * w),
                static_cast<long long>(windows), static_cast<long long>(w));
    return 0;
  };
}

}  // namespace dsx::cli
