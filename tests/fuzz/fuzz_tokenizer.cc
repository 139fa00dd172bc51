// Any bytes through DeepSeek-V3's tokenizer: valid UTF-8 encodes (with and without special
// tokens) and decodes back to the same bytes; anything else is a dsx::Error naming the byte.
#include <cstdint>
#include <string>

#include "core/core.h"
#include "tokenizer/tokenizer.h"

namespace {

// Whether s is UTF-8 as the tokenizer must accept it: shortest forms, no surrogates, <= U+10FFFF.
bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const int len = lead < 0x80         ? 1
                    : (lead >> 5) == 6  ? 2
                    : (lead >> 4) == 14 ? 3
                    : (lead >> 3) == 30 ? 4
                                        : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? lead : lead & (0x7f >> len);
    for (int k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xc0) != 0x80) return false;
      cp = cp << 6 | (c & 0x3f);
    }
    const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const dsx::Tokenizer tokenizer =
      dsx::Tokenizer::load(std::string(DSX_TEST_DATA) + "/tokenizer-deepseek-v3");
  const std::string text(reinterpret_cast<const char*>(data), size);
  const bool valid = valid_utf8(text);
  for (bool parse_special : {true, false}) {
    try {
      if (tokenizer.decode(tokenizer.encode(text, parse_special)) != text) __builtin_trap();
      if (!valid) __builtin_trap();  // invalid UTF-8 must be refused
    } catch (const dsx::Error&) {
      if (valid) __builtin_trap();
    }
  }
  try {
    (void)tokenizer.encode_fim(text, text);
  } catch (const dsx::Error&) {
    if (valid) __builtin_trap();
  }
  return 0;
}
