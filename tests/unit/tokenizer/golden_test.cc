// Token-exact agreement with Hugging Face `tokenizers` on its own outputs for the real
// DeepSeek-V3 tokenizer (public.jsonl, chat_template.jsonl) and on the demo-coder tokenizer.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tokenizer/tokenizer.h"

namespace dsx {
namespace {

const std::string kV3Dir = DSX_TEST_DATA "/tokenizer-deepseek-v3";
// Written by tests/data/tokenizer-goldens/make_goldens.js from HF `tokenizers`.
const std::string kGoldens = DSX_TEST_DATA "/tokenizer-goldens";
const std::string kCoderDir = DSX_MODELS_DIR "/demo-coder";

const Tokenizer& v3() {
  static const Tokenizer t = Tokenizer::load(kV3Dir);
  return t;
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  }
  return rows;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Golden, PublicEncodeAndDecode) {
  const auto rows = read_jsonl(kV3Dir + "/public.jsonl");
  ASSERT_EQ(rows.size(), 54u);
  for (const auto& row : rows) {
    const std::string text = row["text"];
    const auto expected = row["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(v3().encode(text), expected) << text;
    EXPECT_EQ(v3().decode(expected), row["decoded"].get<std::string>()) << text;
  }
}

TEST(Golden, ChatTemplateRenderings) {
  const auto rows = read_jsonl(kV3Dir + "/chat_template.jsonl");
  ASSERT_EQ(rows.size(), 8u);
  for (const auto& row : rows) {
    const std::string text = row["text"];
    EXPECT_EQ(v3().encode(text), row["ids"].get<std::vector<int32_t>>()) << text;
  }
}

TEST(Golden, FuzzedMixedScripts) {
  // Random mixes of code, every kind of white space, CJK inside and outside the pre-tokenizer's
  // ranges, marks, unusual digits, emoji and (fragments of) added tokens; then decodes of random
  // id sequences, where byte tokens leave ill-formed UTF-8 for U+FFFD.
  const auto rows = read_jsonl(kGoldens + "/fuzz.jsonl");
  ASSERT_EQ(rows.size(), 1800u);
  int encoded = 0, decoded = 0;
  for (const auto& row : rows) {
    const auto ids = row["ids"].get<std::vector<int32_t>>();
    if (row.contains("text")) {
      const std::string text = row["text"];
      ASSERT_EQ(v3().encode(text), ids) << nlohmann::json(text).dump();
      ++encoded;
    } else {
      ASSERT_EQ(v3().decode(ids), row["decoded"].get<std::string>()) << row.dump();
      ASSERT_EQ(v3().decode(ids, true), row["decoded_skip"].get<std::string>()) << row.dump();
      ++decoded;
    }
  }
  EXPECT_EQ(encoded, 1500);
  EXPECT_EQ(decoded, 300);
}

// The same hash make_goldens.js computes: FNV-1a over the ids as little-endian int32.
std::string fnv1a64(const std::vector<int32_t>& ids) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const int32_t id : ids) {
    for (int k = 0; k < 4; ++k) {
      h ^= (static_cast<uint32_t>(id) >> (8 * k)) & 0xff;
      h *= 0x100000001b3ull;
    }
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

TEST(Golden, HeldoutCodeMatchesHfAndRoundTrips) {
  const std::string text = read_text(kCoderDir + "/heldout.txt");
  ASSERT_GT(text.size(), 1000000u);
  const auto expected = nlohmann::json::parse(read_text(kGoldens + "/heldout.json"));
  const Tokenizer coder = Tokenizer::load(kCoderDir);
  for (const auto& [name, tokenizer] :
       {std::pair<std::string, const Tokenizer*>{"deepseek-v3", &v3()}, {"demo-coder", &coder}}) {
    const auto ids = tokenizer->encode(text);
    EXPECT_EQ(ids.size(), expected[name]["count"].get<size_t>()) << name;
    EXPECT_EQ(fnv1a64(ids), expected[name]["fnv1a64"].get<std::string>()) << name;
    EXPECT_TRUE(tokenizer->decode(ids) == text) << name << ": round trip differs";
  }
}

TEST(Golden, Variants) {
  // Pre-tokenizer, added-token and model options DeepSeek's file does not use, each applied to
  // the demo-coder tokenizer.json the way make_goldens.js applies them.
  const auto base = nlohmann::json::parse(read_text(kCoderDir + "/tokenizer.json"));
  const auto variants = nlohmann::json::parse(read_text(kGoldens + "/variants.json"));
  ASSERT_GE(variants.size(), 19u);
  const auto dir =
      std::filesystem::temp_directory_path() / ("dsx_tok_variants_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const auto& variant : variants) {
    nlohmann::json json = base;
    for (const auto& [key, value] : variant["patch"].items()) {
      if (key == "model") {
        for (const auto& [field, v] : value.items()) json["model"][field] = v;
      } else if (key == "added_tokens_extra") {
        for (const auto& token : value) json["added_tokens"].push_back(token);
      } else {
        json[key] = value;
      }
    }
    const auto path = dir / (variant["name"].get<std::string>() + ".json");
    std::ofstream(path) << json.dump();
    const Tokenizer tokenizer = Tokenizer::from_json_file(path.string());
    for (const auto& c : variant["cases"]) {
      const std::string text = c["text"];
      EXPECT_EQ(tokenizer.encode(text), c["ids"].get<std::vector<int32_t>>())
          << variant["name"] << ": " << nlohmann::json(text).dump();
    }
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dsx
