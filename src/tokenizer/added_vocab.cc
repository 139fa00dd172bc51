#include "tokenizer/added_vocab.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/core.h"
#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"

namespace dsx::tok {
namespace {

// Rust regex's \s, which HF uses for lstrip/rstrip: the White_Space property.
bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
         c == 0x3000;
}

// Rust regex's \w, which HF uses for single_word; only consulted for tokens with that flag.
bool is_word_char(std::string_view ch) {
  if (ch.size() == 1) {
    const char c = ch[0];
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  }
  static const Regex word(R"(\A[\p{L}\p{Nl}\p{Nd}\p{M}\p{Pc}\x{200C}\x{200D}])", false,
                          "single_word character class");
  MatchScratch scratch;
  scratch.newer_unicode = true;
  std::vector<std::pair<size_t, size_t>> found;
  word.find_all(ch, scratch, found);
  return !found.empty();
}

// Start of the character that ends text (valid UTF-8, non-empty).
size_t last_char_start(std::string_view text) {
  size_t i = text.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(text[i]) & 0xc0) == 0x80) --i;
  return i;
}

bool ends_with_word(std::string_view text) {
  return !text.empty() && is_word_char(text.substr(last_char_start(text)));
}

bool starts_with_word(std::string_view text) {
  if (text.empty()) return false;
  int len = 0;
  decode_utf8(text, 0, &len);
  return is_word_char(text.substr(0, len));
}

}  // namespace

void AddedVocab::Trie::insert(std::string_view content, int32_t token) {
  int32_t node = 0;
  for (unsigned char c : content) {
    auto& next = nodes[node].next;
    const auto it =
        std::find_if(next.begin(), next.end(), [c](const auto& e) { return e.first == c; });
    if (it != next.end()) {
      node = it->second;
    } else {
      const auto child = static_cast<int32_t>(nodes.size());
      nodes[node].next.emplace_back(c, child);
      nodes.emplace_back();
      node = child;
    }
  }
  nodes[node].token = token;  // a later duplicate wins, as in HF's content -> id map
  first[static_cast<unsigned char>(content[0])] = true;
}

size_t AddedVocab::Trie::longest(std::string_view text, size_t pos, int32_t* token) const {
  size_t best = 0;
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const unsigned char c = text[i];
    const auto& next = nodes[node].next;
    const auto it =
        std::find_if(next.begin(), next.end(), [c](const auto& e) { return e.first == c; });
    if (it == next.end()) break;
    node = it->second;
    if (nodes[node].token >= 0) best = i + 1 - pos, *token = nodes[node].token;
  }
  return best;
}

AddedVocab AddedVocab::from_json(
    const nlohmann::json& list, const std::string& file,
    const std::function<std::optional<int32_t>(std::string_view)>& model_find, size_t model_size) {
  AddedVocab vocab;
  if (list.is_null()) return vocab;
  if (!list.is_array()) throw Error(file + ": added_tokens must be a list");
  std::unordered_map<std::string, size_t> index_of;  // content -> index in tokens_
  int64_t max_id = -1;
  for (size_t i = 0; i < list.size(); ++i) {
    const auto& entry = list[i];
    const std::string where = file + ": added_tokens[" + std::to_string(i) + "]";
    if (!entry.is_object()) throw Error(where + " must be an object");
    const auto content = entry.find("content");
    if (content == entry.end() || !content->is_string()) {
      throw Error(where + ".content must be a string");
    }
    AddedToken token;
    token.content = content->get<std::string>();
    const auto flag = [&](const char* key, bool fallback) {
      const auto it = entry.find(key);
      if (it == entry.end() || it->is_null()) return fallback;
      if (!it->is_boolean()) throw Error(where + "." + key + " must be true or false");
      return it->get<bool>();
    };
    token.special = flag("special", false);
    token.lstrip = flag("lstrip", false);
    token.rstrip = flag("rstrip", false);
    token.single_word = flag("single_word", false);
    token.normalized = flag("normalized", !token.special);  // HF's default
    if (token.content.empty()) continue;                    // HF skips empty tokens

    if (const auto it = index_of.find(token.content); it != index_of.end()) {
      // A repeated content takes the later flags; being special is never undone in HF.
      AddedToken& old = vocab.tokens_[it->second];
      token.id = old.id;
      token.special = token.special || old.special;
      old = std::move(token);
      continue;
    }
    if (const auto id = model_find(token.content)) {
      token.id = *id;
    } else if (max_id < 0) {
      token.id = static_cast<int32_t>(model_size);
    } else {
      token.id = static_cast<int32_t>(max_id >= int64_t(model_size) ? max_id + 1 : model_size);
    }
    if (token.id >= (1 << 24)) throw Error(where + ": too many added tokens");
    max_id = std::max<int64_t>(max_id, token.id);
    index_of.emplace(token.content, vocab.tokens_.size());
    vocab.tokens_.push_back(std::move(token));
  }
  for (size_t i = 0; i < vocab.tokens_.size(); ++i) {
    const AddedToken& token = vocab.tokens_[i];
    (token.normalized ? vocab.normalized_ : vocab.raw_).insert(token.content, int32_t(i));
  }
  return vocab;
}

void AddedVocab::split(std::string_view text, bool parse_special, std::vector<Segment>& out) const {
  std::vector<Segment> first;
  split_pass(raw_, text, parse_special, first);
  for (const Segment& s : first) {
    if (s.id >= 0) {
      out.push_back(s);
    } else {
      split_pass(normalized_, s.text, parse_special, out);
    }
  }
}

void AddedVocab::split_pass(const Trie& trie, std::string_view text, bool parse_special,
                            std::vector<Segment>& out) const {
  size_t emitted = 0;  // text before this is in out already
  size_t pos = 0;      // where the search for the next match starts
  while (pos < text.size()) {
    // Leftmost-longest: the first position where any token starts, then its longest token.
    int32_t index = -1;
    size_t start = pos, length = 0;
    for (; start < text.size(); ++start) {
      if (!trie.first[static_cast<unsigned char>(text[start])]) continue;
      length = trie.longest(text, start, &index);
      if (length > 0) break;
    }
    if (length == 0) break;
    size_t stop = start + length;
    pos = stop;  // matching goes on after the token as found, whatever stripping adds
    const AddedToken& token = tokens_[index];
    if (token.special && !parse_special) continue;
    if (token.single_word &&
        (ends_with_word(text.substr(0, start)) || starts_with_word(text.substr(stop)))) {
      continue;
    }
    if (token.lstrip) {
      size_t s = start;
      while (s > emitted) {
        const size_t c = last_char_start(text.substr(0, s));
        int len = 0;
        if (!is_white_space(decode_utf8(text, c, &len))) break;
        s = c;
      }
      start = s;
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        int len = 0;
        if (!is_white_space(decode_utf8(text, stop, &len))) break;
        stop += len;
      }
    }
    // Only a token that begins with white space can start inside the previous one's rstrip.
    start = std::max(start, emitted);
    if (stop <= start) continue;
    if (emitted < start) out.push_back({text.substr(emitted, start - emitted), -1});
    out.push_back({text.substr(start, stop - start), token.id});
    emitted = stop;
  }
  if (emitted < text.size()) out.push_back({text.substr(emitted), -1});
}

}  // namespace dsx::tok
