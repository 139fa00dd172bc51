#include "tokenizer/utf8.h"

#include "tokenizer/tokenizer.h"

namespace dsx::tok {

int utf8_sequence(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned lead = byte(i);
  if (lead < 0x80) return 1;
  // The second byte's range is what rules out overlong forms, surrogates and > U+10FFFF
  // (Unicode 15, table 3-7); later bytes are always 80..BF.
  int need = 0;
  unsigned lo = 0x80, hi = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    need = 1;
  } else if (lead == 0xe0) {
    need = 2, lo = 0xa0;
  } else if (lead == 0xed) {
    need = 2, hi = 0x9f;
  } else if (lead >= 0xe1 && lead <= 0xef) {
    need = 2;
  } else if (lead == 0xf0) {
    need = 3, lo = 0x90;
  } else if (lead == 0xf4) {
    need = 3, hi = 0x8f;
  } else if (lead >= 0xf1 && lead <= 0xf3) {
    need = 3;
  } else {
    return -1;
  }
  for (int k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return 0;
    const unsigned b = byte(i + k);
    if (b < lo || b > hi) return -k;
    lo = 0x80, hi = 0xbf;
  }
  return need + 1;
}

size_t append_utf8_lossy(std::string& out, std::string_view s, bool final) {
  size_t i = 0;
  size_t run = 0;  // start of the pending run of well-formed bytes, copied in one go
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const int n = utf8_sequence(s, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out.append(s.substr(run, i - run));
    if (n == 0 && !final) return i;
    out.append("\xEF\xBF\xBD");
    i += n == 0 ? s.size() - i : static_cast<size_t>(-n);
    run = i;
  }
  out.append(s.substr(run, i - run));
  return i;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

char32_t decode_utf8(std::string_view s, size_t i, int* len) {
  const auto byte = [&](size_t k) {
    return static_cast<char32_t>(static_cast<unsigned char>(s[k]));
  };
  const char32_t lead = byte(i);
  if (lead < 0x80) {
    *len = 1;
    return lead;
  }
  if (lead < 0xe0) {
    *len = 2;
    return ((lead & 0x1f) << 6) | (byte(i + 1) & 0x3f);
  }
  if (lead < 0xf0) {
    *len = 3;
    return ((lead & 0x0f) << 12) | ((byte(i + 1) & 0x3f) << 6) | (byte(i + 2) & 0x3f);
  }
  *len = 4;
  return ((lead & 0x07) << 18) | ((byte(i + 1) & 0x3f) << 12) | ((byte(i + 2) & 0x3f) << 6) |
         (byte(i + 3) & 0x3f);
}

}  // namespace dsx::tok

namespace dsx {

size_t find_invalid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const int n = tok::utf8_sequence(s, i);
    if (n <= 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

}  // namespace dsx
