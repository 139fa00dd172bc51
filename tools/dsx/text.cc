#include "text.h"

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>

namespace dsx::cli {

void SamplingFlags::add(CLI::App& app, float default_temperature) {
  params.temperature = default_temperature;
  params.top_k = 40;
  params.top_p = 0.95f;
  params.min_p = 0.05f;
  temp = app.add_option("--temp", params.temperature, "temperature (0: greedy)");
  app.add_option("--top-k", params.top_k, "keep the k most likely tokens (0: off)");
  app.add_option("--top-p", params.top_p, "nucleus sampling threshold (1: off)");
  app.add_option("--min-p", params.min_p, "drop tokens below min-p x the top probability (0: off)");
  app.add_option("--repeat-penalty", params.repeat_penalty,
                 "penalise repeats of recent tokens (1: off)");
  app.add_option("--repeat-last-n", params.repeat_last_n,
                 "tokens the repeat penalty looks back on");
  app.add_option("--presence-penalty", params.presence_penalty, "OpenAI presence penalty");
  app.add_option("--frequency-penalty", params.frequency_penalty, "OpenAI frequency penalty");
  app.add_option("-s,--seed", params.seed, "random seed (same seed, same output)");
}

void ModelFlags::add(CLI::App& app) {
  app.add_option("-m,--model", model, "model folder (config.json, safetensors, tokenizer.json)")
      ->required();
  app.add_option("-t,--threads", threads, "threads (0: all cores)")->check(CLI::Range(0, 1024));
  app.add_option("-c,--ctx-size", ctx_size, "context size in tokens")
      ->check(CLI::Range(16, 1 << 24));
  app.add_option("--load", load,
                 "how weights come into memory: auto (copy when they fit in half the free memory), "
                 "map, copy")
      ->check(CLI::IsMember({"auto", "map", "copy"}));
}

TextModel::TextModel(const ModelFlags& flags)
    : model(Model::load(flags.model, parse_load_mode(flags.load))),
      tokenizer(Tokenizer::load(flags.model)) {
  EngineOptions o;
  o.threads = flags.threads;
  o.ctx_size = flags.ctx_size;
  runner = std::make_unique<Runner>(model, o);
  seq = runner->new_sequence();
}

std::vector<int32_t> TextModel::prompt_ids(const std::string& text) const {
  std::vector<int32_t> ids;
  if (tokenizer.add_bos() && tokenizer.bos_id()) ids.push_back(*tokenizer.bos_id());
  std::vector<int32_t> body = tokenizer.encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

GenerationStats generate_text(TextModel& m, const std::vector<int32_t>& prompt, int64_t max_tokens,
                              const SamplingParams& sampling,
                              const std::function<void(const std::string&)>& emit,
                              const std::atomic<bool>* interrupt) {
  using clock = std::chrono::steady_clock;
  GenerationStats stats;
  stats.prompt_tokens = static_cast<int64_t>(prompt.size());
  if (prompt.empty()) throw Error("prompt is empty");
  const int64_t ctx = m.runner->cache().max_positions();
  if (static_cast<int64_t>(prompt.size()) >= ctx)
    throw Error("prompt of " + std::to_string(prompt.size()) +
                " tokens does not fit the context size " + std::to_string(ctx) +
                " (raise --ctx-size)");
  Sampler sampler(sampling);

  // Reuse the cached prefix shared with this prompt; always recompute at least the last token to
  // get its logits.
  size_t common = 0;
  while (common < m.cached.size() && common + 1 < prompt.size() &&
         m.cached[common] == prompt[common])
    ++common;
  m.runner->truncate(m.seq, static_cast<int64_t>(common));
  m.cached.resize(common);
  auto t0 = clock::now();
  std::span<const float> logits =
      m.runner->append(m.seq, std::span<const int32_t>(prompt).subspan(common));
  m.cached = prompt;
  auto t1 = clock::now();
  stats.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();

  StreamDecoder decoder(m.tokenizer, /*skip_special=*/true);
  std::vector<int32_t> context = prompt, generated;
  const std::optional<int32_t> eos = m.tokenizer.eos_id();
  stats.finish = "length";
  for (int64_t i = 0; i < max_tokens; ++i) {
    if (interrupt && interrupt->load()) {
      stats.finish = "interrupted";
      break;
    }
    const int32_t next = sampler.sample(logits, context, generated);
    if (eos && next == *eos) {
      stats.finish = "stop";
      break;
    }
    context.push_back(next);
    generated.push_back(next);
    emit(decoder.feed(next));
    if (static_cast<int64_t>(context.size()) >= ctx) break;
    if (i + 1 < max_tokens) {
      logits = m.runner->append(m.seq, std::span<const int32_t>(&next, 1));
      m.cached.push_back(next);
    }
  }
  emit(decoder.flush());
  // The last sampled token is not in the cache yet; the next call recomputes from the prefix.
  stats.generated = static_cast<int64_t>(generated.size());
  stats.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  return stats;
}

void check_utf8(const std::string& text, const std::string& what) {
  const size_t bad = find_invalid_utf8(text);
  if (bad != std::string::npos)
    throw Error(what + " is not valid UTF-8 at byte " + std::to_string(bad));
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string read_stdin_utf8() {
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  check_utf8(text, "standard input");
  return text;
}

}  // namespace dsx::cli
