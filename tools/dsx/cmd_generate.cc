// dsx generate: continue a prompt. With --prompt-ids it prints token ids (greedy unless --temp is
// given); with -p it streams text, sampled with llama.cpp's defaults.
#include <cstdio>
#include <sstream>

#include "text.h"

namespace dsx::cli {

namespace {

struct GenerateArgs {
  ModelFlags model;
  SamplingFlags sampling;
  std::string prompt;
  std::string prompt_ids;
  int64_t n = 128;
  bool timings = false;
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

void print_timings(const GenerationStats& s) {
  std::fprintf(
      stderr, "\nprompt: %lld tokens, %.1f tok/s; generated: %lld tokens, %.1f tok/s (%s)\n",
      static_cast<long long>(s.prompt_tokens), s.prompt_tokens / std::max(1e-9, s.prefill_seconds),
      static_cast<long long>(s.generated), s.generated / std::max(1e-9, s.decode_seconds),
      s.finish.c_str());
}

}  // namespace

Command add_generate(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  args->model.add(app);
  auto* text = app.add_option("-p,--prompt", args->prompt, "prompt text");
  auto* ids =
      app.add_option("--prompt-ids", args->prompt_ids, "prompt as comma-separated token ids");
  text->excludes(ids);
  app.add_option("-n,--n-predict", args->n, "tokens to generate")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 24));
  app.add_flag("--timings", args->timings, "print prompt and generation speed to stderr");
  args->sampling.add(app, 0.8f);
  return [args]() {
    const bool ids_mode = !args->prompt_ids.empty();
    if (!ids_mode && args->prompt.empty())
      throw Error("-p/--prompt: empty prompt (give text, or --prompt-ids)");
    SamplingParams sampling = args->sampling.params;
    std::vector<int32_t> prompt_ids;
    if (ids_mode) {
      prompt_ids = parse_ids(args->prompt_ids, "--prompt-ids");
      if (!args->sampling.temp->count()) sampling.temperature = 0.0f;  // ids mode: greedy
    } else {
      check_utf8(args->prompt, "-p/--prompt");
    }
    sampling.validate();
    if (ids_mode) {
      // Token ids in, token ids out: no tokenizer needed.
      std::shared_ptr<const Model> model =
          Model::load(args->model.model, parse_load_mode(args->model.load));
      EngineOptions o;
      o.threads = args->model.threads;
      o.ctx_size = args->model.ctx_size;
      Runner runner(model, o);
      const int32_t seq = runner.new_sequence();
      if (static_cast<int64_t>(prompt_ids.size()) + args->n > runner.cache().max_positions())
        throw Error("--prompt-ids: " + std::to_string(prompt_ids.size()) + " prompt tokens + " +
                    std::to_string(args->n) + " to generate exceed the context size " +
                    std::to_string(runner.cache().max_positions()));
      Sampler sampler(sampling);
      std::vector<int32_t> context = prompt_ids, generated;
      std::span<const float> logits = runner.append(seq, prompt_ids);
      for (int64_t i = 0; i < args->n; ++i) {
        const int32_t next = sampler.sample(logits, context, generated);
        context.push_back(next);
        generated.push_back(next);
        std::printf(i ? ",%d" : "%d", next);
        std::fflush(stdout);
        if (i + 1 < args->n) logits = runner.append(seq, std::span<const int32_t>(&next, 1));
      }
      std::printf("\n");
      return 0;
    }
    TextModel m(args->model);
    const std::vector<int32_t> prompt = m.prompt_ids(args->prompt);
    GenerationStats s = generate_text(m, prompt, args->n, sampling, [](const std::string& piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    });
    std::printf("\n");
    if (args->timings) print_timings(s);
    return 0;
  };
}

}  // namespace dsx::cli
