// UTF-8 validation and the lossy decoding HF applies to decoded bytes (Rust's
// String::from_utf8_lossy: each maximal subpart of an ill-formed sequence becomes one U+FFFD).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace dsx::tok {

// Classifies the sequence that starts at s[i] (i < s.size()):
//   n > 0: a well-formed character of n bytes;
//   n < 0: ill-formed, and its maximal subpart is -n bytes (one U+FFFD replaces them);
//   0:     a well-formed but incomplete prefix that runs to the end of s.
int utf8_sequence(std::string_view s, size_t i);

// Appends s to out with ill-formed sequences replaced as HF does. With final=false an incomplete
// character at the end of s is left out; returns how many bytes of s were consumed.
size_t append_utf8_lossy(std::string& out, std::string_view s, bool final);

// Encodes a code point (assumed valid) as UTF-8.
void append_utf8(std::string& out, char32_t cp);

// Decodes the well-formed character at s[i], storing its length; s must be valid UTF-8.
char32_t decode_utf8(std::string_view s, size_t i, int* len);

}  // namespace dsx::tok
