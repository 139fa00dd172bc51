// Any JSON body through the four request parsers (OpenAI chat and completions, Ollama generate
// and chat): a Job or an ApiError (a 400 naming the parameter), never anything else.
#include <cstdint>
#include <nlohmann/json.hpp>

#include "core/core.h"
#include "server/api.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dsx::server;
  static const dsx::Tokenizer tokenizer =
      dsx::Tokenizer::load(std::string(DSX_TEST_DATA) + "/tokenizer-deepseek-v3");
  static const ApiContext context = [] {
    ApiContext c;
    c.tokenizer = &tokenizer;
    c.model_name = "m";
    c.context_size = 4096;
    return c;
  }();
  const nlohmann::json body = nlohmann::json::parse(data, data + size, nullptr, false);
  if (body.is_discarded()) return 0;  // not JSON: the server answers 400 before any parser
  using Parser = Job (*)(const nlohmann::json&, const ApiContext&);
  for (Parser parse :
       {parse_openai_chat, parse_openai_completion, parse_ollama_generate, parse_ollama_chat}) {
    try {
      (void)parse(body, context);
    } catch (const ApiError&) {
    }
  }
  return 0;
}
