// The text commands end to end on the bundled demo-coder model and the DeepSeek-V3 tokenizer.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "cli.h"

namespace dsx::test {
namespace {

const std::string kCoder = std::string(DSX_MODELS_DIR) + "/demo-coder";
const std::string kV3Tokenizer = std::string(DSX_TEST_DATA) + "/tokenizer-deepseek-v3";

TEST(TextCli, TokenizeJsonlMatchesHuggingFace) {
  std::ifstream in(kV3Tokenizer + "/public.jsonl");
  std::string line, input;
  std::vector<nlohmann::json> want;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    input += nlohmann::json(j["text"]).dump() + "\n";
    want.push_back(j["ids"]);
  }
  ASSERT_GT(want.size(), 10u);
  CliResult r = run_cli("tokenize -m " + kV3Tokenizer + " --jsonl", input);
  ASSERT_EQ(r.code, 0) << r.err;
  std::stringstream out(r.out);
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_TRUE(std::getline(out, line)) << i;
    EXPECT_EQ(nlohmann::json::parse(line), want[i]) << "line " << i + 1;
  }
}

TEST(TextCli, TokenizeWholeStdin) {
  CliResult r = run_cli("tokenize -m " + kV3Tokenizer, "Hello world");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).size(), 2u) << r.out;
}

TEST(TextCli, InvalidUtf8IsRefused) {
  CliResult r = run_cli("tokenize -m " + kV3Tokenizer, std::string("ok \xff\xfe bad", 9));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("not valid UTF-8 at byte 3"), std::string::npos) << r.err;
  r = run_cli("generate -m " + kCoder + " -p $'abc\\xc3' -n 4");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("-p/--prompt is not valid UTF-8"), std::string::npos) << r.err;
  r = run_cli("tokenize -m " + kV3Tokenizer + " --jsonl", "\"fine\"\n42\n");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
}

TEST(TextCli, EmptyAndOverlongPrompts) {
  CliResult r = run_cli("generate -m " + kCoder + " -p '' -n 4");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("empty prompt"), std::string::npos) << r.err;
  std::string long_prompt;
  for (int i = 0; i < 100; ++i) long_prompt += "x = 1 ";
  r = run_cli("generate -m " + kCoder + " -c 16 -n 4 -p '" + long_prompt + "'");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("does not fit the context size 16"), std::string::npos) << r.err;
}

TEST(TextCli, SeededGenerationIsReproducible) {
  const std::string cmd = "generate -m " + kCoder + " -p 'def add(a, b):' -n 24 --temp 0.8 --seed 11 -t 2";
  CliResult a = run_cli(cmd), b = run_cli(cmd);
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_GT(a.out.size(), 10u);
  CliResult c = run_cli("generate -m " + kCoder + " -p 'def add(a, b):' -n 24 --temp 0.8 --seed 12 -t 2");
  EXPECT_NE(a.out, c.out);
}

TEST(TextCli, FillInTheMiddle) {
  CliResult r = run_cli("complete -m " + kCoder +
                        " --prefix $'def square(x):\\n    return ' --suffix $'\\n\\nprint(square(3))\\n' -n 16 --temp 0");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
}

TEST(TextCli, ChatIsMultiTurnAndHonoursCommands) {
  CliResult r = run_cli("chat -m " + kCoder + " -n 12 --temp 0 -t 2", "hello\nhow are you\n/clear\nhello\n/exit\nignored\n");
  ASSERT_EQ(r.code, 0) << r.err;
  // Three answers; the first and the one after /clear answer the same conversation.
  std::vector<std::string> answers;
  std::stringstream out(r.out);
  std::string line, current;
  while (std::getline(out, line)) answers.push_back(line);
  ASSERT_GE(answers.size(), 3u) << r.out;
}

TEST(TextCli, PerplexityReproducesTheReference) {
  CliResult r = run_cli("perplexity -m " + kCoder + " -t 2");
  ASSERT_EQ(r.code, 0) << r.err;
  // transformers (float32 over the same bf16 weights) gives 13.694822617548247.
  const size_t at = r.out.find("perplexity ");
  ASSERT_NE(at, std::string::npos) << r.out;
  const double ppl = std::stod(r.out.substr(at + 11));
  EXPECT_NEAR(ppl, 13.6948, 5e-4) << r.out;
}

}  // namespace
}  // namespace dsx::test
