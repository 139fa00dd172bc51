// GPT-2's byte-level alphabet: a reversible map from the 256 byte values to printable code
// points, so that vocabularies can be stored as JSON strings. Bytes that are printable Latin-1
// map to themselves; the others (controls, space, NBSP, soft hyphen) to U+0100 onwards.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dsx::tok {

char32_t byte_to_char(uint8_t b);

// A token string's bytes as HF's ByteLevel decoder produces them: every character mapped back
// to its byte, or, when any character lies outside the alphabet (typically an added token such
// as "<｜User｜>"), the string's own UTF-8 bytes.
std::string byte_level_unmap(std::string_view token);

// Raw bytes to their byte-level spelling ("Ġhello" for " hello").
std::string byte_level_map(std::string_view bytes);

}  // namespace dsx::tok
