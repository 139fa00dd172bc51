// Any bytes as a model folder's tokenizer_config.json (beside a small valid tokenizer.json):
// a tokenizer whose BOS/EOS and chat template work, or a dsx::Error naming the file; a chat
// template it carries renders or fails with a dsx::Error.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "core/core.h"
#include "fuzz_util.h"
#include "template/template.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const dsx::fuzz::TempDir temp;
  static const bool tokenizer_copied = [] {
    std::filesystem::copy_file(std::string(DSX_FUZZ_DATA) + "/small_tokenizer.json",
                               temp.path + "/tokenizer.json");
    return true;
  }();
  (void)tokenizer_copied;
  temp.write("tokenizer_config.json", data, size);
  try {
    const dsx::Tokenizer tokenizer = dsx::Tokenizer::load(temp.path);
    const std::string bos = tokenizer.bos_id() ? tokenizer.token_bytes(*tokenizer.bos_id()) : "";
    const std::string eos = tokenizer.eos_id() ? tokenizer.token_bytes(*tokenizer.eos_id()) : "";
    (void)tokenizer.add_bos();
    if (!tokenizer.chat_template().empty()) {
      const auto messages = nlohmann::ordered_json::parse(R"([{"role": "user", "content": "hi"}])");
      (void)dsx::render_chat_template(tokenizer.chat_template(), messages, true, bos, eos);
    }
  } catch (const dsx::Error&) {
  }
  return 0;
}
