// Added tokens (tokenizer.json "added_tokens"): found in the raw text before pre-tokenization,
// as HF's AddedVocabulary does: leftmost-longest, non-overlapping, first among the tokens with
// normalized=false, then among those with normalized=true in the text left between. The
// lstrip/rstrip/single_word flags act as in HF.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dsx::tok {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool single_word = false;
};

// A stretch of the input: an added token (id >= 0) or text still to be pre-tokenized (id < 0).
struct Segment {
  std::string_view text;
  int32_t id;
};

class AddedVocab {
 public:
  // `list` is the "added_tokens" array (null allowed); `file` names tokenizer.json in errors.
  // Ids are assigned as HF assigns them when it loads the file, whatever "id" says: a token
  // already in the model vocabulary (model_find) keeps that id, a new one takes the next free id
  // after the model's model_size entries. Released files agree with this; a file that does not
  // gets HF's ids, not its own.
  static AddedVocab from_json(
      const nlohmann::json& list, const std::string& file,
      const std::function<std::optional<int32_t>(std::string_view)>& model_find, size_t model_size);

  const std::vector<AddedToken>& tokens() const { return tokens_; }

  // Cuts text into segments. parse_special=false leaves special tokens in the text (HF's
  // encode_special_tokens): their matches are passed over, not shortened to other tokens.
  void split(std::string_view text, bool parse_special, std::vector<Segment>& out) const;

 private:
  // A byte trie over the token contents of one pass.
  struct Trie {
    struct Node {
      std::vector<std::pair<unsigned char, int32_t>> next;
      int32_t token = -1;  // index into tokens_ of a token ending here
    };
    std::vector<Node> nodes{1};
    std::array<bool, 256> first{};  // bytes that can start a token: skips most text quickly
    void insert(std::string_view content, int32_t token);
    // The longest token starting at text[pos]: returns its length, 0 if none.
    size_t longest(std::string_view text, size_t pos, int32_t* token) const;
  };

  void split_pass(const Trie& trie, std::string_view text, bool parse_special,
                  std::vector<Segment>& out) const;

  std::vector<AddedToken> tokens_;
  Trie raw_;         // normalized=false: matched in the original text
  Trie normalized_;  // normalized=true: matched after normalization (an identity here)
};

}  // namespace dsx::tok
