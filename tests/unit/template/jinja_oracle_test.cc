// Differential test against the real Jinja2: tests/data/templates/jinja_cases.jsonl holds
// templates with the output Jinja2 3.1 produced for them (or the fact that it raised), written by
// tests/data/templates/make_jinja_cases.py in transformers' chat template environment.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "core/core.h"
#include "template/template.h"

namespace {

using Json = nlohmann::ordered_json;

std::vector<Json> load_cases() {
  std::ifstream in(std::string(DSX_TEST_DATA) + "/templates/jinja_cases.jsonl");
  std::vector<Json> cases;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) cases.push_back(Json::parse(line));
  }
  return cases;
}

std::string read_template(const std::string& name) {
  std::ifstream in(std::string(DSX_TEST_DATA) + "/templates/" + name, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Whole conversations through render_chat_template: DeepSeek's templates and multi-line
// templates written in the style of other popular ones.
void check_chat(const Json& c) {
  std::string tmpl = c.contains("template_file")
                         ? read_template(c["template_file"].get<std::string>())
                         : c["template"].get<std::string>();
  auto render = [&] {
    return dsx::render_chat_template(tmpl, c["messages"], c["add_generation_prompt"].get<bool>(),
                                     "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>",
                                     c["extra"]);
  };
  if (c.value("error", false)) {
    try {
      ADD_FAILURE() << "rendered \"" << render() << "\" where Jinja2 raised: " << c["message"];
    } catch (const dsx::Error& e) {
      EXPECT_EQ(std::string(e.what()), c["message"].get<std::string>());  // raise_exception's text
    }
    return;
  }
  EXPECT_EQ(render(), c["expected"].get<std::string>());
}

TEST(JinjaOracle, MatchesJinja2) {
  std::vector<Json> cases = load_cases();
  ASSERT_GT(cases.size(), 100u);
  int errors = 0;
  int chats = 0;
  for (const Json& c : cases) {
    if (c.value("chat", false)) {
      SCOPED_TRACE(c["name"].get<std::string>());
      check_chat(c);
      ++chats;
      continue;
    }
    SCOPED_TRACE(c["name"].get<std::string>() + ": " + c["template"].get<std::string>());
    dsx::TemplateOptions options =
        c["options"] == "hf" ? dsx::TemplateOptions::hf_chat() : dsx::TemplateOptions{};
    dsx::Template t = dsx::Template::parse(c["template"].get<std::string>(), options);
    if (c.value("error", false)) {
      ++errors;
      try {
        std::string out = t.render(c["context"]);
        ADD_FAILURE() << "rendered \"" << out << "\" where Jinja2 raised: " << c["message"];
      } catch (const dsx::Error& e) {
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
      }
      continue;
    }
    EXPECT_EQ(t.render(c["context"]), c["expected"].get<std::string>());
  }
  EXPECT_GT(errors, 5);
  EXPECT_GE(chats, 10);
}

}  // namespace
