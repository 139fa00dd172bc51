// Loading tokenizer.json / tokenizer_config.json and the encode/decode entry points; the parts
// live in pretokenizer.cc, bpe.cc, added_vocab.cc, byte_level.cc and utf8.cc.
#include "tokenizer/tokenizer.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "core/core.h"
#include "tokenizer/added_vocab.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode_delta.h"
#include "tokenizer/utf8.h"

namespace dsx {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(path + ": cannot read file");
  return std::move(text).str();
}

nlohmann::json read_json(const std::string& path) {
  const std::string text = read_file(path);
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) throw Error(path + ": not valid JSON");
  return json;
}

// Only normalizers that change nothing: null, or a Sequence of such (DeepSeek's is an empty
// Sequence). Anything else would have to run before added-token matching and pre-tokenization.
void check_normalizer(const nlohmann::json& n, const std::string& where) {
  if (n.is_null()) return;
  const std::string type = n.is_object() && n.contains("type") && n["type"].is_string()
                               ? n["type"].get<std::string>()
                               : "";
  if (type == "Sequence" && n.contains("normalizers") && n["normalizers"].is_array()) {
    for (size_t i = 0; i < n["normalizers"].size(); ++i) {
      check_normalizer(n["normalizers"][i], where + ".normalizers[" + std::to_string(i) + "]");
    }
    return;
  }
  throw Error(where + " type '" + type + "' is not supported");
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace

struct Tokenizer::Impl {
  std::string file;  // tokenizer.json, for messages
  tok::PreTokenizer pre_tokenizer;
  std::unique_ptr<tok::Bpe> bpe;
  tok::AddedVocab added;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> added_ids;
  std::vector<std::string> bytes;  // by id: what decode emits (empty for ids with no token)
  std::vector<uint8_t> special;    // by id
  std::optional<int32_t> bos, eos;
  bool add_bos = false;
  std::string chat_template;

  static std::shared_ptr<Impl> from_file(const std::string& path);
  void read_config(const std::string& path);
  void read_config_fields(const nlohmann::json& json, const std::string& path);
  std::optional<int32_t> find(std::string_view token) const;
};

std::shared_ptr<Tokenizer::Impl> Tokenizer::Impl::from_file(const std::string& path) {
  const nlohmann::json json = read_json(path);
  auto impl = std::make_shared<Impl>();
  impl->file = path;
  try {
    if (!json.is_object()) throw Error(path + ": must hold a JSON object");
    check_normalizer(json.value("normalizer", nlohmann::json()), path + ": normalizer");
    const auto model = json.find("model");
    if (model == json.end() || !model->is_object()) throw Error(path + ": model is missing");
    const auto type = model->find("type");
    if (type == model->end() || !type->is_string()) throw Error(path + ": model.type is missing");
    if (*type != "BPE") {
      throw Error(path + ": model type '" + type->get<std::string>() + "' is not supported");
    }
    const auto decoder = json.value("decoder", nlohmann::json());
    if (!decoder.is_object() || decoder.value("type", "") != "ByteLevel") {
      const std::string name = decoder.is_object() ? decoder.value("type", "?") : "null";
      throw Error(path + ": decoder type '" + name + "' is not supported (ByteLevel required)");
    }
    impl->pre_tokenizer =
        tok::PreTokenizer::from_json(json.value("pre_tokenizer", nlohmann::json()), path);
    impl->bpe = tok::Bpe::from_json(*model, path, impl->pre_tokenizer.byte_level());
    const tok::Bpe& bpe = *impl->bpe;
    impl->added = tok::AddedVocab::from_json(
        json.value("added_tokens", nlohmann::json()), path,
        [&bpe](std::string_view token) { return bpe.find(token); }, bpe.size());
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": " + e.what());  // a field of the wrong JSON type
  }

  // Per-id tables; added tokens override the vocabulary, as in HF's id_to_token.
  const auto& tokens = impl->bpe->tokens();
  size_t size = tokens.size();
  for (const auto& t : impl->added.tokens()) size = std::max(size, size_t(t.id) + 1);
  impl->bytes.assign(size, {});
  impl->special.assign(size, 0);
  for (size_t id = 0; id < tokens.size(); ++id) {
    if (tokens[id].empty()) continue;
    impl->bytes[id] = tok::byte_level_unmap(tokens[id]);
  }
  for (const auto& t : impl->added.tokens()) {
    impl->bytes[t.id] = tok::byte_level_unmap(t.content);
    impl->special[t.id] = t.special;
    impl->added_ids[t.content] = t.id;
  }
  return impl;
}

std::optional<int32_t> Tokenizer::Impl::find(std::string_view token) const {
  if (const auto it = added_ids.find(token); it != added_ids.end()) return it->second;
  return bpe->find(token);
}

void Tokenizer::Impl::read_config(const std::string& path) {
  const nlohmann::json json = read_json(path);
  if (!json.is_object()) throw Error(path + ": must hold a JSON object");
  try {
    read_config_fields(json, path);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": " + e.what());
  }
}

void Tokenizer::Impl::read_config_fields(const nlohmann::json& json, const std::string& path) {
  // bos_token / eos_token: a string, or an AddedToken object with "content".
  const auto token_field = [&](const char* key) -> std::optional<int32_t> {
    const auto it = json.find(key);
    if (it == json.end() || it->is_null()) return std::nullopt;
    const nlohmann::json* content = &*it;
    if (it->is_object()) {
      const auto c = it->find("content");
      content = c == it->end() ? nullptr : &*c;
    }
    if (content == nullptr || !content->is_string()) {
      throw Error(path + ": " + key + " must be a string or {\"content\": string}");
    }
    const auto id = find(content->get<std::string>());
    if (!id) {
      throw Error(path + ": " + key + " '" + content->get<std::string>() +
                  "' is not in the vocabulary");
    }
    return id;
  };
  bos = token_field("bos_token");
  eos = token_field("eos_token");
  add_bos = bos.has_value();
  if (const auto it = json.find("add_bos_token"); it != json.end() && !it->is_null()) {
    if (!it->is_boolean()) throw Error(path + ": add_bos_token must be true or false");
    add_bos = it->get<bool>() && bos.has_value();
  }
  if (const auto it = json.find("chat_template"); it != json.end() && !it->is_null()) {
    if (it->is_string()) {
      chat_template = it->get<std::string>();
    } else if (it->is_array()) {  // [{"name": ..., "template": ...}]: the "default" one
      for (const auto& entry : *it) {
        if (entry.is_object() && entry.value("name", nlohmann::json()) == "default") {
          const auto t = entry.find("template");
          if (t == entry.end() || !t->is_string()) {
            throw Error(path + ": chat_template 'default' has no template string");
          }
          chat_template = t->get<std::string>();
        }
      }
    } else {
      throw Error(path + ": chat_template must be a string or a list of {name, template}");
    }
  }
}

Tokenizer Tokenizer::from_json_file(const std::string& path) {
  return Tokenizer(Impl::from_file(path));
}

Tokenizer Tokenizer::load(const std::string& model_dir) {
  const std::filesystem::path dir(model_dir);
  auto impl = Impl::from_file((dir / "tokenizer.json").string());
  const auto config = dir / "tokenizer_config.json";
  if (std::filesystem::exists(config)) impl->read_config(config.string());
  const auto jinja = dir / "chat_template.jinja";  // newer transformers save the template here
  if (impl->chat_template.empty() && std::filesystem::exists(jinja)) {
    impl->chat_template = read_file(jinja.string());
  }
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
  if (const size_t bad = find_invalid_utf8(text); bad != std::string_view::npos) {
    throw Error("text is not valid UTF-8 at byte " + std::to_string(bad));
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3);
  std::vector<tok::Segment> segments;
  impl_->added.split(text, parse_special, segments);
  tok::PreTokenizeScratch pre_scratch;
  pre_scratch.match.newer_unicode = tok::contains_unicode_delta(text);
  tok::BpeScratch bpe_scratch;
  const auto encode_piece = [&](std::string_view piece) {
    impl_->bpe->encode(piece, bpe_scratch, ids);
  };
  for (const tok::Segment& segment : segments) {
    if (segment.id >= 0) {
      ids.push_back(segment.id);
    } else {
      impl_->pre_tokenizer.run(segment.text, pre_scratch, encode_piece);
    }
  }
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string bytes;
  for (const int32_t id : ids) {
    if (id < 0 || size_t(id) >= impl_->bytes.size()) continue;
    if (skip_special && impl_->special[id]) continue;
    bytes += impl_->bytes[id];
  }
  std::string text;
  text.reserve(bytes.size());
  tok::append_utf8_lossy(text, bytes, /*final=*/true);
  return text;
}

std::string Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return impl_->bytes[id];
}

int32_t Tokenizer::vocab_size() const {
  return static_cast<int32_t>(impl_->bytes.size());
}

std::optional<int32_t> Tokenizer::find_token(std::string_view token) const {
  return impl_->find(token);
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && impl_->special[id];
}

std::optional<int32_t> Tokenizer::bos_id() const {
  return impl_->bos;
}
std::optional<int32_t> Tokenizer::eos_id() const {
  return impl_->eos;
}
bool Tokenizer::add_bos() const {
  return impl_->add_bos;
}
const std::string& Tokenizer::chat_template() const {
  return impl_->chat_template;
}

std::vector<int32_t> Tokenizer::encode_fim(std::string_view prefix, std::string_view suffix) const {
  const auto id_of = [&](const char* name) {
    const auto id = impl_->find(name);
    if (!id) throw Error(impl_->file + ": FIM token '" + name + "' is not in the vocabulary");
    return *id;
  };
  const int32_t begin = id_of("<｜fim▁begin｜>");
  const int32_t hole = id_of("<｜fim▁hole｜>");
  const int32_t end = id_of("<｜fim▁end｜>");
  std::vector<int32_t> ids{begin};
  const auto append = [&](std::string_view text) {
    const auto part = encode(text, /*parse_special=*/false);
    ids.insert(ids.end(), part.begin(), part.end());
  };
  append(prefix);
  ids.push_back(hole);
  append(suffix);
  ids.push_back(end);
  return ids;
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_(tokenizer), skip_special_(skip_special) {}

std::string StreamDecoder::feed(int32_t id) {
  if (skip_special_ && tokenizer_.is_special(id)) return {};
  pending_ += tokenizer_.token_bytes(id);
  std::string text;
  pending_.erase(0, tok::append_utf8_lossy(text, pending_, /*final=*/false));
  return text;
}

std::string StreamDecoder::flush() {
  std::string text;
  tok::append_utf8_lossy(text, pending_, /*final=*/true);
  pending_.clear();
  return text;
}

}  // namespace dsx
