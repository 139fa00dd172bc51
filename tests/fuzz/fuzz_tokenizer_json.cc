// Any bytes as a model folder's tokenizer.json: a tokenizer that encodes and decodes a mixed
// text (letters, digits, CJK, spaces, an added token) or a dsx::Error naming the file.
#include <cstdint>
#include <string>

#include "core/core.h"
#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const dsx::fuzz::TempDir temp;
  const std::string file = temp.write("tokenizer.json", data, size);
  try {
    const dsx::Tokenizer tokenizer = dsx::Tokenizer::from_json_file(file);
    const std::string text = "Hello wörld 12345 日本語 <|x|>  the\n\tend";
    for (bool parse_special : {true, false})
      (void)tokenizer.decode(tokenizer.encode(text, parse_special));
  } catch (const dsx::Error&) {
  }
  return 0;
}
