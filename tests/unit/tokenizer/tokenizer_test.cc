// The tokenizer's own contract: UTF-8 checks, streaming decode, FIM, tokenizer_config.json,
// special-token handling, thread safety, and one-line errors for bad or unsupported files.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "core/core.h"

namespace dsx {
namespace {

const std::string kV3Dir = DSX_TEST_DATA "/tokenizer-deepseek-v3";
const std::string kCoderDir = DSX_MODELS_DIR "/demo-coder";

const Tokenizer& v3() {
  static const Tokenizer t = Tokenizer::load(kV3Dir);
  return t;
}

const Tokenizer& coder() {
  static const Tokenizer t = Tokenizer::load(kCoderDir);
  return t;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A scratch folder for hand-made tokenizer files, removed afterwards.
class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() /
              ("dsx_tok_test_" + std::to_string(::getpid()) + "_" + std::to_string(next_++))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string write(const std::string& name, const std::string& text) const {
    const auto file = path_ / name;
    std::ofstream(file, std::ios::binary) << text;
    return file.string();
  }
  std::string path() const { return path_.string(); }

 private:
  static inline int next_ = 0;
  std::filesystem::path path_;
};

nlohmann::json coder_json() {
  static const nlohmann::json j = nlohmann::json::parse(read_text(kCoderDir + "/tokenizer.json"));
  return j;
}

// Loads a modified demo-coder tokenizer.json and returns the error message it raises.
std::string load_error(const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json j = coder_json();
  edit(j);
  TempDir dir;
  const std::string path = dir.write("tokenizer.json", j.dump());
  try {
    Tokenizer::from_json_file(path);
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << "error does not name the file: " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "error is not one line: " << message;
    return message;
  }
  ADD_FAILURE() << "no error for " << j.dump().substr(0, 80);
  return "";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(Utf8, FindsFirstIllFormedSequence) {
  EXPECT_EQ(find_invalid_utf8(""), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("plain ascii"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("中文 😀 é"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("\xC0\xAF"), 0u);          // overlong '/'
  EXPECT_EQ(find_invalid_utf8("ab\xED\xA0\x80"), 2u);    // surrogate U+D800
  EXPECT_EQ(find_invalid_utf8("abc\xE4\xB8"), 3u);       // truncated 中
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(find_invalid_utf8("ok\x80"), 2u);            // stray continuation byte
  EXPECT_EQ(find_invalid_utf8("\xE4\xB8\xAD\xFF"), 3u);  // never valid
}

TEST(Utf8, EncodeRejectsInvalidTextWithOffset) {
  try {
    v3().encode("hello \xE4\xB8 world");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "text is not valid UTF-8 at byte 6");
  }
  EXPECT_THROW(v3().encode(std::string("a\0b\xFF", 4)), Error);
  EXPECT_EQ(v3().encode(std::string("a\0b", 3)).size(), 3u);  // NUL is valid UTF-8
}

TEST(Decode, ReplacesIllFormedBytesLikeHf) {
  // Rust's from_utf8_lossy: one U+FFFD per maximal subpart of an ill-formed sequence.
  const auto byte_token = [](unsigned char b) {
    // The byte-level spelling of b is a one-character vocabulary token.
    for (int32_t id = 0; id < v3().vocab_size(); ++id) {
      const std::string bytes = v3().token_bytes(id);
      if (bytes.size() == 1 && static_cast<unsigned char>(bytes[0]) == b) return id;
    }
    return -1;
  };
  const int32_t e4 = byte_token(0xE4), b8 = byte_token(0xB8), ad = byte_token(0xAD),
                a = byte_token('a'), ff = byte_token(0xFF);
  ASSERT_TRUE(e4 >= 0 && b8 >= 0 && ad >= 0 && a >= 0 && ff >= 0);
  const std::vector<int32_t> ids1{e4, b8, ad};
  EXPECT_EQ(v3().decode(ids1), "中");
  const std::vector<int32_t> ids2{e4, b8, a};
  EXPECT_EQ(v3().decode(ids2), "\uFFFDa");  // E4 B8 is one maximal subpart
  const std::vector<int32_t> ids3{ff, ff, e4};
  EXPECT_EQ(v3().decode(ids3), "\uFFFD\uFFFD\uFFFD");
  const std::vector<int32_t> ids4{-5, a, 1 << 30};  // unknown ids are dropped, as in HF
  EXPECT_EQ(v3().decode(ids4), "a");
}

// Every piece a StreamDecoder returns is complete UTF-8, and the pieces add up to decode().
void check_stream(const Tokenizer& t, const std::vector<int32_t>& ids, bool skip_special) {
  StreamDecoder stream(t, skip_special);
  std::string joined;
  for (const int32_t id : ids) {
    const std::string piece = stream.feed(id);
    ASSERT_EQ(find_invalid_utf8(piece), std::string_view::npos);
    joined += piece;
  }
  const std::string rest = stream.flush();
  ASSERT_EQ(find_invalid_utf8(rest), std::string_view::npos);
  joined += rest;
  EXPECT_EQ(joined, t.decode(ids, skip_special));
}

TEST(StreamDecoder, HoldsBackSplitCharacters) {
  const std::string text =
      "流式解码：中文、日本語のテキスト、emoji 👨‍👩‍👧 🇺🇸 👍🏽 and "
      "한국어.";
  const auto ids = v3().encode("<｜begin▁of▁sentence｜>" + text);
  // The test only means something if some token ends inside a character.
  int partial = 0;
  for (const int32_t id : ids)
    partial += find_invalid_utf8(v3().token_bytes(id)) != std::string_view::npos;
  ASSERT_GT(partial, 0);
  check_stream(v3(), ids, false);
  check_stream(v3(), ids, true);

  StreamDecoder stream(v3());
  std::string joined;
  for (const int32_t id : ids) joined += stream.feed(id);
  EXPECT_EQ(joined + stream.flush(), "<｜begin▁of▁sentence｜>" + text);
}

TEST(StreamDecoder, MatchesDecodeOnIllFormedSequences) {
  // Random ids, many of them single-byte tokens, so truncated and stray bytes are common.
  std::mt19937 rng(7);
  std::vector<int32_t> byte_ids;
  for (int32_t id = 0; id < v3().vocab_size(); ++id) {
    if (v3().token_bytes(id).size() == 1) byte_ids.push_back(id);
  }
  for (int round = 0; round < 300; ++round) {
    std::vector<int32_t> ids(1 + rng() % 16);
    for (auto& id : ids)
      id = rng() % 3 ? byte_ids[rng() % byte_ids.size()] : int32_t(rng() % 128815);
    check_stream(v3(), ids, round % 2 == 0);
  }
}

TEST(Fim, PsmOrderMatchesInlineTokens) {
  // public.jsonl has this FIM prompt written with the tokens inline.
  const auto inline_ids =
      v3().encode("<｜fim▁begin｜>def add(a, b):\n<｜fim▁hole｜>\n    return c<｜fim▁end｜>");
  EXPECT_EQ(v3().encode_fim("def add(a, b):\n", "\n    return c"), inline_ids);
  EXPECT_EQ(inline_ids.front(), 128801);

  ASSERT_EQ(coder().find_token("<｜fim▁begin｜>"), 4);
  ASSERT_EQ(coder().find_token("<｜fim▁hole｜>"), 3);
  ASSERT_EQ(coder().find_token("<｜fim▁end｜>"), 5);
  const auto ids = coder().encode_fim("def f(x):\n    return ", "\n\nprint(f(2))\n");
  EXPECT_EQ(ids.front(), 4);
  EXPECT_EQ(ids.back(), 5);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 3), 1);
  EXPECT_EQ(coder().decode(ids),
            "<｜fim▁begin｜>def f(x):\n    return <｜fim▁hole｜>\n\nprint(f(2))\n<｜fim▁end｜>");

  // Special tokens in user code stay text.
  const auto guarded = v3().encode_fim("x = '<｜end▁of▁sentence｜>'", "");
  EXPECT_EQ(std::count(guarded.begin(), guarded.end(), 1), 0);
}

TEST(Fim, MissingTokenIsNamed) {
  nlohmann::json j = coder_json();
  j["model"]["vocab"].erase("<｜fim▁hole｜>");
  auto& added = j["added_tokens"];
  added.erase(std::remove_if(added.begin(), added.end(),
                             [](const auto& t) { return t["content"] == "<｜fim▁hole｜>"; }),
              added.end());
  TempDir dir;
  const Tokenizer t = Tokenizer::from_json_file(dir.write("tokenizer.json", j.dump()));
  try {
    t.encode_fim("a", "b");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "<｜fim▁hole｜>")) << e.what();
  }
}

TEST(SpecialTokens, ParseSpecialFalseKeepsSpecialsAsText) {
  const std::string text = "<｜begin▁of▁sentence｜>hi<|EOT|><｜User｜>";
  const auto parsed = v3().encode(text);
  EXPECT_EQ(parsed.front(), 0);
  const auto plain = v3().encode(text, /*parse_special=*/false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 0), 0);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 128805), 0);  // <|EOT|> is special
  EXPECT_EQ(plain.back(), 128803);  // <｜User｜> is not special: it still matches, as in HF
  EXPECT_EQ(v3().decode(plain), text);

  EXPECT_TRUE(v3().is_special(0));
  EXPECT_TRUE(v3().is_special(128805));
  EXPECT_FALSE(v3().is_special(128800));
  EXPECT_FALSE(v3().is_special(1000));
  EXPECT_FALSE(v3().is_special(-1));
  EXPECT_EQ(v3().decode(parsed, /*skip_special=*/true), "hi<｜User｜>");
}

TEST(Vocabulary, LookupsAndBytes) {
  EXPECT_EQ(v3().vocab_size(), 128815);
  EXPECT_EQ(coder().vocab_size(), 8192);
  const auto hello = v3().find_token("Ġhello");
  ASSERT_TRUE(hello);
  EXPECT_EQ(v3().token_bytes(*hello), " hello");
  EXPECT_EQ(v3().find_token("<｜User｜>"), 128803);
  EXPECT_FALSE(v3().find_token(" hello"));  // vocabulary strings are byte-level spelled
  EXPECT_EQ(v3().token_bytes(128803), "<｜User｜>");
  EXPECT_EQ(v3().token_bytes(-1), "");
  EXPECT_EQ(v3().token_bytes(128815), "");  // the model's padding rows reach 129279
  EXPECT_EQ(v3().token_bytes(129279), "");
}

TEST(Config, DeepSeekV3AndDemoCoder) {
  for (const Tokenizer* t : {&v3(), &coder()}) {
    EXPECT_EQ(t->bos_id(), 0);
    EXPECT_EQ(t->eos_id(), 1);
    EXPECT_TRUE(t->add_bos());
    EXPECT_TRUE(t->chat_template().starts_with("{% if not add_generation_prompt is defined %}"));
    EXPECT_TRUE(contains(t->chat_template(), "<｜Assistant｜>"));
  }
  const Tokenizer bare = Tokenizer::from_json_file(kV3Dir + "/tokenizer.json");
  EXPECT_FALSE(bare.bos_id());
  EXPECT_FALSE(bare.eos_id());
  EXPECT_FALSE(bare.add_bos());
  EXPECT_TRUE(bare.chat_template().empty());
}

TEST(Config, StringTokensNamedTemplatesAndErrors) {
  TempDir dir;
  dir.write("tokenizer.json", read_text(kCoderDir + "/tokenizer.json"));
  const auto with_config = [&](const nlohmann::json& config) {
    dir.write("tokenizer_config.json", config.dump());
    return Tokenizer::load(dir.path());
  };
  nlohmann::json config = {
      {"bos_token", "<｜begin▁of▁sentence｜>"},
      {"eos_token", {{"content", "<|EOT|>"}}},
      {"add_bos_token", false},
      {"chat_template",
       {{{"name", "tool_use"}, {"template", "T"}}, {{"name", "default"}, {"template", "D"}}}}};
  Tokenizer t = with_config(config);
  EXPECT_EQ(t.bos_id(), 0);
  EXPECT_EQ(t.eos_id(), 8);
  EXPECT_FALSE(t.add_bos());
  EXPECT_EQ(t.chat_template(), "D");

  config.erase("add_bos_token");
  config["bos_token"] = nullptr;
  config["chat_template"] = nullptr;
  t = with_config(config);
  EXPECT_FALSE(t.bos_id());
  EXPECT_FALSE(t.add_bos());
  dir.write("chat_template.jinja", "{{ messages }}");  // newer transformers keep it here
  EXPECT_EQ(with_config(config).chat_template(), "{{ messages }}");

  config["bos_token"] = "<nope>";
  try {
    with_config(config);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "tokenizer_config.json: bos_token '<nope>'")) << e.what();
  }
  dir.write("tokenizer_config.json", "{\"bos_token\": ");
  EXPECT_THROW(Tokenizer::load(dir.path()), Error);
}

TEST(Errors, MissingAndCorruptFiles) {
  TempDir dir;
  try {
    Tokenizer::load(dir.path());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), dir.path() + "/tokenizer.json: cannot open")) << e.what();
  }
  const std::string text = read_text(kCoderDir + "/tokenizer.json");
  const std::string truncated = dir.write("truncated.json", text.substr(0, text.size() / 2));
  try {
    Tokenizer::from_json_file(truncated);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), truncated)) << e.what();
  }
  EXPECT_THROW(Tokenizer::from_json_file(dir.write("array.json", "[1, 2]")), Error);
  EXPECT_THROW(Tokenizer::from_json_file(dir.write("empty.json", "")), Error);
}

TEST(Errors, UnsupportedPartsAreNamed) {
  EXPECT_TRUE(contains(load_error([](auto& j) {
                         j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "▁"}};
                       }),
                       "pre_tokenizer type 'Metaspace' is not supported"));
  EXPECT_TRUE(contains(
      load_error([](auto& j) {
        j["pre_tokenizer"]["pretokenizers"][1] = {{"type", "Digits"}, {"individual_digits", true}};
      }),
      "pre_tokenizer.pretokenizers[1] type 'Digits' is not supported"));
  EXPECT_TRUE(contains(load_error([](auto& j) { j["model"]["type"] = "WordPiece"; }),
                       "model type 'WordPiece' is not supported"));
  EXPECT_TRUE(contains(load_error([](auto& j) {
                         j["normalizer"] = {{"type", "NFC"}};
                       }),
                       "normalizer type 'NFC' is not supported"));
  EXPECT_TRUE(contains(load_error([](auto& j) {
                         j["decoder"] = {{"type", "Metaspace"}};
                       }),
                       "decoder type 'Metaspace' is not supported"));
  EXPECT_TRUE(contains(
      load_error([](auto& j) { j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Sideways"; }),
      "behavior 'Sideways' is not supported"));
  EXPECT_TRUE(
      contains(load_error([](auto& j) {
                 j["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Regex", "(unclosed"}};
               }),
               "cannot compile regex"));
  EXPECT_TRUE(contains(load_error([](auto& j) {
                         j["model"]["merges"][5] = {"Ġ", "zzzz"};
                       }),
                       "model.merges[5]: token 'zzzz' is not in the vocabulary"));
  EXPECT_TRUE(
      contains(load_error([](auto& j) { j["model"]["merges"][0] = "a b c"; }), "model.merges[0]"));
  EXPECT_TRUE(
      contains(load_error([](auto& j) { j["model"]["vocab"]["x"] = -3; }), "model.vocab['x']"));
  EXPECT_TRUE(contains(load_error([](auto& j) { j["model"]["dropout"] = 0.1; }), "dropout"));
  EXPECT_TRUE(contains(load_error([](auto& j) { j["added_tokens"][0]["special"] = "yes"; }),
                       "added_tokens[0].special"));
  // A field of the wrong JSON type anywhere still gives a dsx::Error naming the file.
  load_error([](auto& j) { j["model"]["ignore_merges"] = "no"; });
  load_error([](auto& j) { j["model"]["vocab"] = nlohmann::json::array(); });
}

TEST(Encode, SharedAcrossThreads) {
  // One instance, many threads: the BPE cache is the only shared mutable state.
  const std::string text =
      read_text(kCoderDir + "/heldout.txt").substr(0, 200000) + "中文 日本語 한국어 😀";
  const Tokenizer fresh = Tokenizer::load(kV3Dir);  // a cold cache, filled concurrently
  const auto expected = v3().encode(text);
  std::vector<std::vector<int32_t>> results(4);
  std::vector<std::thread> threads;
  for (auto& r : results) threads.emplace_back([&] { r = fresh.encode(text); });
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_TRUE(r == expected);
}

TEST(Encode, ManyDistinctWordsOutgrowTheCache) {
  // More distinct pieces than the cache holds: results must not depend on what was evicted.
  std::mt19937 rng(3);
  std::string text;
  std::vector<int32_t> expected;
  for (int i = 0; i < 70000; ++i) {
    std::string word = " ";
    for (int k = 0; k < 6; ++k) word.push_back(static_cast<char>('a' + rng() % 26));
    const auto ids = coder().encode(word);
    expected.insert(expected.end(), ids.begin(), ids.end());
    text += word;
  }
  EXPECT_TRUE(coder().encode(text) == expected);
  EXPECT_TRUE(coder().encode(text) == expected);
}

TEST(Encode, EmptyAndWhitespaceOnly) {
  EXPECT_TRUE(v3().encode("").empty());
  EXPECT_EQ(v3().decode(v3().encode(" \t\n\r\n  ")), " \t\n\r\n  ");
  const std::string long_run(100000, ' ');  // one long piece: no cache, long merge chain
  EXPECT_EQ(v3().decode(v3().encode(long_run)), long_run);
}

TEST(Encode, LongRunsOfEveryCharacterClass) {
  // Single huge pieces stress the regex engine (JIT stack, backtracking) and the merge loop.
  const std::vector<std::string> units = {"a",      "é",   "中",  "1",    "!",
                                          " ",      "\n",  " \n", "\r\n", "😀",
                                          "\u0301", "ab1", " a",  "\t ",  "a\u0301"};
  for (const std::string& unit : units) {
    std::string text;
    while (text.size() < 300000) text += unit;
    const auto ids = v3().encode(text);
    EXPECT_EQ(v3().decode(ids), text) << nlohmann::json(unit).dump();
  }
}

}  // namespace
}  // namespace dsx
