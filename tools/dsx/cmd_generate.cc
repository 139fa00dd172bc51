// dsx generate: greedy generation from token ids (text prompts come with the tokenizer).
#include <cstdio>
#include <sstream>

#include "commands.h"
#include "engine/engine.h"

namespace dsx::cli {

namespace {

struct GenerateArgs {
  std::string model;
  std::string prompt_ids;
  int n = 32;
  int threads = 0;
  int64_t ctx_size = 4096;
};

std::vector<int32_t> parse_ids(const std::string& text, const char* what) {
  std::vector<int32_t> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (...) {
      used = 0;
    }
    while (used < item.size() && item[used] == ' ') ++used;
    if (item.empty() || used != item.size() || v < INT32_MIN || v > INT32_MAX)
      throw Error(std::string(what) + ": '" + item + "' is not a token id");
    ids.push_back(static_cast<int32_t>(v));
  }
  if (ids.empty()) throw Error(std::string(what) + ": no token ids");
  return ids;
}

int32_t greedy(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
  return best;
}

}  // namespace

Command add_generate(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  app.add_option("-m,--model", args->model, "model folder (config.json + safetensors)")->required();
  app.add_option("--prompt-ids", args->prompt_ids, "prompt as comma-separated token ids")->required();
  app.add_option("-n,--n-predict", args->n, "tokens to generate")->check(CLI::Range(0, 1 << 20));
  app.add_option("-t,--threads", args->threads, "threads (0: all cores)")->check(CLI::Range(0, 1024));
  app.add_option("-c,--ctx-size", args->ctx_size, "context size")->check(CLI::Range(1, 1 << 24));
  return [args]() {
    const std::vector<int32_t> prompt = parse_ids(args->prompt_ids, "--prompt-ids");
    std::shared_ptr<const Model> model = Model::load(args->model);
    EngineOptions options;
    options.threads = args->threads;
    options.ctx_size = args->ctx_size;
    Runner runner(model, options);
    const int32_t seq = runner.new_sequence();
    if (static_cast<int64_t>(prompt.size()) + args->n > runner.cache().max_positions())
      throw Error("--prompt-ids: " + std::to_string(prompt.size()) + " prompt tokens + " +
                  std::to_string(args->n) + " to generate exceed the context size " +
                  std::to_string(runner.cache().max_positions()));
    std::span<const float> logits = runner.append(seq, prompt);
    for (int i = 0; i < args->n; ++i) {
      const int32_t next = greedy(logits);
      std::printf(i ? ",%d" : "%d", next);
      std::fflush(stdout);
      if (i + 1 < args->n) logits = runner.append(seq, std::span<const int32_t>(&next, 1));
    }
    std::printf("\n");
    return 0;
  };
}

}  // namespace dsx::cli
