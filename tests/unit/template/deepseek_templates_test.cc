// DeepSeek's published chat templates, rendered through render_chat_template.
//
// (a) DeepSeek-V3's template against the golden texts transformers produced
//     (tests/data/tokenizer-deepseek-v3/chat_template.jsonl), byte for byte.
// (b) The demo model's template renders.
// (c) The V2-Chat, Coder-V2-Instruct, V3 and R1 templates (tests/data/templates, see SOURCES.md)
//     on system / user / assistant / multi-turn and tool-call conversations. The expected strings
//     were derived by reading each template; the comment above each test says which branches
//     produce which piece. They were cross-checked with Jinja2 3.1.6.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/core.h"
#include "template/template.h"

namespace {

using Json = nlohmann::ordered_json;

const std::string kBos = "<｜begin▁of▁sentence｜>";
const std::string kEos = "<｜end▁of▁sentence｜>";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string tmpl(const std::string& name) {
  return read_file(std::string(DSX_TEST_DATA) + "/templates/" + name);
}

std::string render(const std::string& name, const Json& messages, bool gen) {
  return dsx::render_chat_template(tmpl(name), messages, gen, kBos, kEos);
}

Json msg(const std::string& role, const std::string& content) {
  return {{"role", role}, {"content", content}};
}

Json call(const std::string& name, const std::string& arguments) {
  return {{"type", "function"}, {"function", {{"name", name}, {"arguments", arguments}}}};
}

// The calls as a vector: a braced single Json would be copied by one compiler and wrapped in
// an array by another (clang 14 copies, GCC 12 wraps).
Json tool_calls(const Json& content, const std::vector<Json>& calls) {
  return {{"role", "assistant"}, {"content", content}, {"tool_calls", Json(calls)}};
}

// ---- (a) golden texts from transformers ------------------------------------------------------

TEST(DeepSeekV3, MatchesTransformersGoldenTexts) {
  std::string dir = std::string(DSX_TEST_DATA) + "/tokenizer-deepseek-v3/";
  Json config = Json::parse(read_file(dir + "tokenizer_config.json"));
  std::string tmpl = config["chat_template"].get<std::string>();
  std::ifstream lines(dir + "chat_template.jsonl");
  int n = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    Json c = Json::parse(line);
    SCOPED_TRACE(line);
    EXPECT_EQ(dsx::render_chat_template(tmpl, c["messages"], c["add_generation_prompt"].get<bool>(),
                                        kBos, kEos),
              c["text"].get<std::string>());
    ++n;
  }
  EXPECT_GT(n, 0);
}

// The checked-in copy is the same template.
TEST(DeepSeekV3, TemplateFileMatchesTokenizerConfig) {
  Json config = Json::parse(
      read_file(std::string(DSX_TEST_DATA) + "/tokenizer-deepseek-v3/tokenizer_config.json"));
  EXPECT_EQ(tmpl("deepseek-v3.jinja"), config["chat_template"].get<std::string>());
}

// ---- (b) the demo model ----------------------------------------------------------------------

TEST(DemoCoder, TemplateRenders) {
  Json config =
      Json::parse(read_file(std::string(DSX_MODELS_DIR) + "/demo-coder/tokenizer_config.json"));
  std::string t = config["chat_template"].get<std::string>();
  Json messages = Json::array({msg("system", "You write C++."), msg("user", "Sort a vector.")});
  EXPECT_EQ(dsx::render_chat_template(t, messages, true, kBos, kEos),
            kBos + "You write C++.<｜User｜>Sort a vector.<｜Assistant｜>");
}

// ---- (c) V2-Chat and Coder-V2-Instruct -------------------------------------------------------
// {{ bos_token }}, then per message: user -> 'User: ' + content + '\n\n'; assistant ->
// 'Assistant: ' + content + eos_token; system -> content + '\n\n'; then 'Assistant:' (no space)
// when add_generation_prompt.

class DeepSeekV2 : public ::testing::TestWithParam<const char*> {};

TEST_P(DeepSeekV2, UserOnly) {
  EXPECT_EQ(render(GetParam(), Json::array({msg("user", "Hello!")}), true),
            kBos + "User: Hello!\n\nAssistant:");
  EXPECT_EQ(render(GetParam(), Json::array({msg("user", "Hello!")}), false),
            kBos + "User: Hello!\n\n");
}

TEST_P(DeepSeekV2, SystemPrompt) {
  Json m = Json::array({msg("system", "You are helpful."), msg("user", "Hi")});
  EXPECT_EQ(render(GetParam(), m, true), kBos + "You are helpful.\n\nUser: Hi\n\nAssistant:");
}

TEST_P(DeepSeekV2, MultiTurn) {
  Json m = Json::array({msg("user", "2+2?"), msg("assistant", "4"), msg("user", "and 3+3?")});
  EXPECT_EQ(render(GetParam(), m, false),
            kBos + "User: 2+2?\n\nAssistant: 4" + kEos + "User: and 3+3?\n\n");
  EXPECT_EQ(render(GetParam(), m, true),
            kBos + "User: 2+2?\n\nAssistant: 4" + kEos + "User: and 3+3?\n\nAssistant:");
}

TEST_P(DeepSeekV2, OtherRolesAreSkipped) {
  Json m = Json::array({msg("tool", "ignored"), msg("user", "x")});
  EXPECT_EQ(render(GetParam(), m, true), kBos + "User: x\n\nAssistant:");
}

INSTANTIATE_TEST_SUITE_P(Templates, DeepSeekV2,
                         ::testing::Values("deepseek-v2-chat.jinja",
                                           "deepseek-coder-v2-instruct.jinja"));

// ---- (c) V3 ----------------------------------------------------------------------------------
// A first loop joins the system messages with '\n\n' into ns.system_prompt, printed right after
// bos_token. Then: user -> '<｜User｜>' + content; assistant with content -> '<｜Assistant｜>' +
// content + eos (or '<｜tool▁outputs▁end｜>' + content + eos right after tool outputs); assistant
// with content None -> its tool calls; tool -> tool outputs. The generation prompt is
// '<｜Assistant｜>', except after tool outputs, which are closed with '<｜tool▁outputs▁end｜>'.

TEST(DeepSeekV3, SystemUserAssistant) {
  Json m = Json::array({msg("system", "S1"), msg("user", "Hi"), msg("system", "S2"),
                        msg("assistant", "Hello"), msg("user", "Bye")});
  EXPECT_EQ(
      render("deepseek-v3.jinja", m, true),
      kBos + "S1\n\nS2<｜User｜>Hi<｜Assistant｜>Hello" + kEos + "<｜User｜>Bye<｜Assistant｜>");
}

// Tool calls: the first call opens with '<｜Assistant｜><｜tool▁calls▁begin｜>'; each later call
// starts with '\n' and is followed by '<｜tool▁calls▁end｜><｜end▁of▁sentence｜>' (the template
// emits that after every call but the first). The first output opens
// '<｜tool▁outputs▁begin｜>', later ones start with '\n'; the next assistant message closes them.
TEST(DeepSeekV3, ToolCalls) {
  Json m = Json::array({msg("user", "Weather in Paris and Rome?"),
                        tool_calls(nullptr, {call("get_weather", "{\"city\": \"Paris\"}"),
                                             call("get_weather", "{\"city\": \"Rome\"}")}),
                        msg("tool", "21C"), msg("tool", "18C"),
                        msg("assistant", "Paris 21C, Rome 18C.")});
  std::string expected =
      kBos + "<｜User｜>Weather in Paris and Rome?" +
      "<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_"
      "weather\n"
      "```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>"
      "\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Rome\"}\n```"
      "<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>"
      "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>21C<｜tool▁output▁end｜>"
      "\n<｜tool▁output▁begin｜>18C<｜tool▁output▁end｜>"
      "<｜tool▁outputs▁end｜>Paris 21C, Rome 18C." +
      kEos + "<｜Assistant｜>";
  EXPECT_EQ(render("deepseek-v3.jinja", m, true), expected);
}

// Ending on a tool output: the outputs are closed and no generation prompt follows. With a
// single call the template never emits '<｜tool▁calls▁end｜>' (the quirk above).
TEST(DeepSeekV3, EndsWithToolOutput) {
  Json m =
      Json::array({msg("user", "Q"), tool_calls(nullptr, {call("f", "{}")}), msg("tool", "R")});
  EXPECT_EQ(
      render("deepseek-v3.jinja", m, true),
      kBos +
          "<｜User｜>Q<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<"
          "｜tool▁sep｜>f\n"
          "```json\n{}\n```<｜tool▁call▁end｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>R"
          "<｜tool▁output▁end｜><｜tool▁outputs▁end｜>");
}

// The template concatenates arguments with '+', so arguments given as a dict fail, as in Jinja2.
TEST(DeepSeekV3, ArgumentsMustBeAString) {
  Json bad = {{"type", "function"}, {"function", {{"name", "f"}, {"arguments", {{"x", 1}}}}}};
  Json m = Json::array({msg("user", "Q"), tool_calls(nullptr, {bad})});
  EXPECT_THROW(render("deepseek-v3.jinja", m, true), dsx::Error);
}

// ---- (c) R1 ----------------------------------------------------------------------------------
// Like V3, with three differences: an assistant message's content is cut to what follows the
// last '</think>'; tool calls are chosen by `'tool_calls' in message` (content may precede them,
// and '<｜tool▁calls▁end｜><｜end▁of▁sentence｜>' follows the last call); later tool outputs get
// no '\n'. The generation prompt is '<｜Assistant｜><think>\n'.

TEST(DeepSeekR1, UserOnly) {
  EXPECT_EQ(render("deepseek-r1.jinja", Json::array({msg("user", "Hello!")}), true),
            kBos + "<｜User｜>Hello!<｜Assistant｜><think>\n");
}

TEST(DeepSeekR1, MultiTurnDropsReasoning) {
  Json m = Json::array({msg("system", "Sys"), msg("user", "1+1?"),
                        msg("assistant", "<think>\nadd\n</think>\n\n2"), msg("user", "times 3?")});
  EXPECT_EQ(render("deepseek-r1.jinja", m, true), kBos + "Sys<｜User｜>1+1?<｜Assistant｜>\n\n2" +
                                                      kEos +
                                                      "<｜User｜>times 3?<｜Assistant｜><think>\n");
}

TEST(DeepSeekR1, ToolCallWithContent) {
  Json m = Json::array({msg("user", "Weather in Paris?"),
                        tool_calls("Let me check.", {call("get_weather", "{\"city\": \"Paris\"}")}),
                        msg("tool", "21C"), msg("assistant", "It is 21C.")});
  std::string expected =
      kBos + "<｜User｜>Weather in Paris?" +
      "<｜Assistant｜>Let me "
      "check.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n"
      "```json\n{\"city\": "
      "\"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>"
      "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>21C<｜tool▁output▁end｜>"
      "<｜tool▁outputs▁end｜>It is 21C." +
      kEos;
  EXPECT_EQ(render("deepseek-r1.jinja", m, false), expected);
}

TEST(DeepSeekR1, TwoCallsEndingWithToolOutputs) {
  Json m = Json::array({msg("user", "Q"),
                        tool_calls(nullptr, {call("fa", "{}"), call("fb", "{\"x\": 1}")}),
                        msg("tool", "A"), msg("tool", "B")});
  std::string expected =
      kBos + "<｜User｜>Q" +
      "<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>fa\n```"
      "json\n{}\n```"
      "<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>fb\n```json\n{\"x\": 1}\n```"
      "<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>"
      "<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>A<｜tool▁output▁end｜>"
      "<｜tool▁output▁begin｜>B<｜tool▁output▁end｜><｜tool▁outputs▁end｜>";
  EXPECT_EQ(render("deepseek-r1.jinja", m, true), expected);
}

// ---- render_chat_template's context ----------------------------------------------------------

TEST(ChatContext, MatchesTransformers) {
  std::string t =
      "{{ tools is defined }}|{{ tools is none }}|{{ documents is none }}|{{ add_generation_prompt "
      "}}|"
      "{{ bos_token }}{{ eos_token }}|{{ messages | length }}|{{ extra_var }}|{% if tools %}{{ "
      "tools | length }}{% endif %}";
  EXPECT_EQ(dsx::render_chat_template(t, Json::array({msg("user", "x")}), true, "<s>", "</s>",
                                      {{"extra_var", 5}}),
            "True|True|True|True|<s></s>|1|5|");
  EXPECT_EQ(
      dsx::render_chat_template(t, Json::array(), false, "", "", {{"tools", Json::array({1, 2})}}),
      "True|False|True|False||0||2");
  EXPECT_THROW(dsx::render_chat_template(t, Json::object(), false, "", ""), dsx::Error);
}

// Callers holding plain nlohmann::json (sorted keys) pass it as is.
TEST(ChatContext, AcceptsPlainJson) {
  nlohmann::json messages = nlohmann::json::array({{{"role", "user"}, {"content", "Hello!"}}});
  nlohmann::json extra = {{"unused", true}};
  EXPECT_EQ(dsx::render_chat_template(tmpl("deepseek-v3.jinja"), messages, true, kBos, kEos, extra),
            kBos + "<｜User｜>Hello!<｜Assistant｜>");
  EXPECT_EQ(dsx::Template::parse("{{ a }}").render(nlohmann::json{{"a", 1}}), "1");
}

}  // namespace
