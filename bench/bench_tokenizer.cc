// Single-thread encode throughput of the DeepSeek-V3 tokenizer on >= 1 MB of mixed text: the
// demo-coder held-out Python plus the multilingual lines of public.jsonl, repeated. Also encode
// with a cold BPE cache (the tokenizer is reloaded, untimed, before each iteration), a chat-sized
// prompt for the per-call overhead, and decode. Rates are per CPU second: the build machine is
// shared, and wall time would also count the neighbours.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tokenizer/tokenizer.h"

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string& mixed_text() {
  static const std::string text = [] {
    const std::string code = read_text(DSX_MODELS_DIR "/demo-coder/heldout.txt");
    std::string prose;
    std::ifstream in(DSX_TEST_DATA "/tokenizer-deepseek-v3/public.jsonl");
    for (std::string line; std::getline(in, line);) {
      const auto row = nlohmann::json::parse(line);
      const std::string t = row["text"];
      // The non-ASCII lines: Korean, Chinese, Japanese, emoji, RTL scripts.
      if (std::any_of(t.begin(), t.end(),
                      [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
        prose += t + "\n";
      }
    }
    std::string mixed = code;
    // About as many multilingual bytes as code bytes.
    while (mixed.size() < 2 * code.size()) mixed += prose;
    return mixed;
  }();
  return text;
}

const dsx::Tokenizer& v3() {
  static const dsx::Tokenizer t = dsx::Tokenizer::load(DSX_TEST_DATA "/tokenizer-deepseek-v3");
  return t;
}

void BM_EncodeMixed(benchmark::State& state) {
  const std::string& text = mixed_text();
  v3().encode(text);  // loads the tokenizer and fills the BPE cache outside the timing
  size_t tokens = 0;
  for (auto _ : state) {
    const auto ids = v3().encode(text);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
  state.counters["text_MB"] = double(text.size()) / 1e6;
  state.counters["tokens"] = double(tokens);
}
BENCHMARK(BM_EncodeMixed)->Unit(benchmark::kMillisecond);

void BM_EncodeMixedColdCache(benchmark::State& state) {
  const std::string& text = mixed_text();
  for (auto _ : state) {
    state.PauseTiming();
    const auto fresh = dsx::Tokenizer::load(DSX_TEST_DATA "/tokenizer-deepseek-v3");
    state.ResumeTiming();
    benchmark::DoNotOptimize(fresh.encode(text).data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}
BENCHMARK(BM_EncodeMixedColdCache)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_EncodeShortPrompt(benchmark::State& state) {
  // Per-call overhead: a chat-sized prompt.
  const std::string text = "<｜User｜>Write fizzbuzz in C++, please.<｜Assistant｜>";
  v3().encode(text);
  for (auto _ : state) benchmark::DoNotOptimize(v3().encode(text).data());
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}
BENCHMARK(BM_EncodeShortPrompt);

void BM_DecodeMixed(benchmark::State& state) {
  const auto ids = v3().encode(mixed_text());
  for (auto _ : state) benchmark::DoNotOptimize(v3().decode(ids).data());
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(mixed_text().size()));
}
BENCHMARK(BM_DecodeMixed)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
