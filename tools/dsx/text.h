// Shared pieces of the text commands (generate -p, complete, chat): sampling flags named as
// llama.cpp names them, loading a model with its tokenizer, and streaming generation.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "commands.h"
#include "engine/engine.h"
#include "sampling/sampling.h"
#include "tokenizer/tokenizer.h"

namespace dsx::cli {

struct SamplingFlags {
  SamplingParams params;
  CLI::Option* temp = nullptr;  // to tell whether --temp was given
  void add(CLI::App& app, float default_temperature);
};

struct ModelFlags {
  std::string model;
  int threads = 0;
  int64_t ctx_size = 4096;
  std::string load = "auto";  // LoadMode (io.h)
  void add(CLI::App& app);
};

// A model, its tokenizer and a runner holding one conversation's cache.
struct TextModel {
  std::shared_ptr<const Model> model;
  Tokenizer tokenizer;
  std::unique_ptr<Runner> runner;
  int32_t seq = -1;
  std::vector<int32_t> cached;  // tokens in the sequence's cache, to reuse a shared prefix

  explicit TextModel(const ModelFlags& flags);
  // The ids of a text prompt: BOS (when the tokenizer adds one) then the text.
  std::vector<int32_t> prompt_ids(const std::string& text) const;
};

struct GenerationStats {
  int64_t prompt_tokens = 0;
  int64_t generated = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
  std::string finish;  // "stop", "length", "interrupted"
};

// Feeds `prompt` (reusing the cached common prefix), then samples up to max_tokens, streaming
// complete UTF-8 text to `emit`. Stops at EOS or when `interrupt` becomes true.
GenerationStats generate_text(TextModel& m, const std::vector<int32_t>& prompt, int64_t max_tokens,
                              const SamplingParams& sampling,
                              const std::function<void(const std::string&)>& emit,
                              const std::atomic<bool>* interrupt = nullptr);

// Reads a whole file; throws Error naming it.
std::string read_text_file(const std::string& path);
// Reads all of stdin, or throws Error if it is not valid UTF-8.
std::string read_stdin_utf8();
// Throws Error("<what> is not valid UTF-8 at byte N") for invalid text.
void check_utf8(const std::string& text, const std::string& what);

}  // namespace dsx::cli
