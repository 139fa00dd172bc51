// dsx tokenizer: byte-level BPE driven by a Hugging Face tokenizer.json, token-exact against
// HF `tokenizers` (encode with add_special_tokens=False, decode), plus what an engine needs
// around it: special ids from tokenizer_config.json, the chat template text, fill-in-the-middle
// prompts and a streaming-safe incremental decoder.
//
// A Tokenizer is immutable after loading apart from an internal, bounded, mutex-guarded cache
// of BPE results: one instance may be shared by any number of threads, and copies are cheap
// (they share the loaded tables).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dsx {

class Tokenizer {
 public:
  // model_dir/tokenizer.json plus, when present, model_dir/tokenizer_config.json (bos/eos tokens,
  // add_bos_token, chat_template) and model_dir/chat_template.jinja (used when the config has
  // no chat_template). Throws dsx::Error naming the file and field at fault.
  static Tokenizer load(const std::string& model_dir);
  // A tokenizer.json alone: no bos/eos, no chat template.
  static Tokenizer from_json_file(const std::string& path);

  // Token ids of text, without BOS or any post-processing. parse_special=false treats special
  // added tokens written in the text as plain text (non-special added tokens still match, as in
  // HF). Throws dsx::Error("text is not valid UTF-8 at byte N") on invalid input.
  std::vector<int32_t> encode(std::string_view text, bool parse_special = true) const;
  // Concatenated token bytes, invalid UTF-8 replaced by U+FFFD as HF does. Unknown ids are
  // dropped, as HF does; skip_special drops special added tokens.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;

  // Raw bytes of one token: a vocabulary token after byte-level unmapping, or an added token's
  // content. Empty for an id the tokenizer does not know (a model's padding rows can exceed
  // vocab_size()), which decode() drops likewise.
  std::string token_bytes(int32_t id) const;
  // One past the largest id of the vocabulary and the added tokens.
  int32_t vocab_size() const;
  // Exact lookup of a token string as written in tokenizer.json (added tokens first, then the
  // vocabulary, whose strings are in the byte-level alphabet, e.g. "Ġhello").
  std::optional<int32_t> find_token(std::string_view token) const;
  bool is_special(int32_t id) const;

  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  // add_bos_token from tokenizer_config.json; defaults to true when a BOS token exists.
  bool add_bos() const;
  // The Jinja chat template ("default" one when the config holds a named list), empty if none.
  const std::string& chat_template() const;

  // Fill-in-the-middle prompt in PSM order:
  // <｜fim▁begin｜> prefix <｜fim▁hole｜> suffix <｜fim▁end｜>. Prefix and suffix are encoded with
  // parse_special=false so user code cannot inject special tokens. Throws dsx::Error naming a
  // FIM token the vocabulary lacks.
  std::vector<int32_t> encode_fim(std::string_view prefix, std::string_view suffix) const;

 private:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Incremental detokenizer for streaming output. feed() returns only complete UTF-8: bytes of a
// character split across tokens are held back until it completes. Bytes that can no longer form
// a character come out as U+FFFD exactly where decode() puts them, so the concatenation of every
// feed() and the final flush() equals decode() of the same ids.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false);
  std::string feed(int32_t id);
  // Returns what is held back (an incomplete character becomes U+FFFD) and resets.
  std::string flush();

 private:
  Tokenizer tokenizer_;  // shares the tables: the decoder may outlive the caller's instance
  bool skip_special_;
  std::string pending_;  // at most 3 bytes: the start of a character not yet complete
};

// Byte offset of the first byte of the first ill-formed UTF-8 sequence in s, or npos if s is
// valid (overlong forms, surrogates and code points above U+10FFFF are ill-formed).
size_t find_invalid_utf8(std::string_view s);

}  // namespace dsx
