#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace dsx::tok {
namespace {

constexpr bool maps_to_itself(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

constexpr std::array<char32_t, 256> kByteToChar = [] {
  std::array<char32_t, 256> table{};
  char32_t next = 0x100;  // the remaining bytes take U+0100.. in byte order
  for (int b = 0; b < 256; ++b) table[b] = maps_to_itself(b) ? char32_t(b) : next++;
  return table;
}();

// Every mapped code point is below U+0144, so the inverse is a small dense table.
constexpr char32_t kAlphabetEnd = 0x144;
constexpr std::array<int16_t, kAlphabetEnd> kCharToByte = [] {
  std::array<int16_t, kAlphabetEnd> table{};
  for (auto& v : table) v = -1;
  for (int b = 0; b < 256; ++b) table[kByteToChar[b]] = static_cast<int16_t>(b);
  return table;
}();

}  // namespace

char32_t byte_to_char(uint8_t b) {
  return kByteToChar[b];
}

std::string byte_level_unmap(std::string_view token) {
  std::string bytes;
  bytes.reserve(token.size());
  for (size_t i = 0; i < token.size();) {
    // Token strings come from parsed JSON and so are valid UTF-8.
    int len = 0;
    const char32_t cp = decode_utf8(token, i, &len);
    if (cp >= kAlphabetEnd || kCharToByte[cp] < 0) return std::string(token);
    bytes.push_back(static_cast<char>(kCharToByte[cp]));
    i += len;
  }
  return bytes;
}

std::string byte_level_map(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) append_utf8(out, kByteToChar[static_cast<uint8_t>(c)]);
  return out;
}

}  // namespace dsx::tok
