// OpenAI and Ollama request bodies -> Job, with the demo-coder tokenizer and chat template.
#include <gtest/gtest.h>

#include "fake_backend.h"
#include "server/api.h"

namespace dsx::server {
namespace {

ApiContext ctx(int64_t context = 1024) {
  ApiContext c;
  c.tokenizer = &testing::demo_tokenizer();
  c.model_name = "demo-coder";
  c.context_size = context;
  c.max_stop_strings = 4;
  return c;
}

template <class Fn>
ApiError error_of(Fn fn) {
  try {
    fn();
  } catch (const ApiError& e) {
    return e;
  }
  return ApiError(0, "no error");
}

const char* kChat = R"({"model": "demo-coder", "messages": [{"role": "user", "content": "hi"}]})";

json chat(const std::string& extra_fields) {
  json j = json::parse(kChat);
  json extra = json::parse("{" + extra_fields + "}");
  for (auto& [k, v] : extra.items()) j[k] = v;
  return j;
}

TEST(ServerParseOpenAIChat, AppliesTheChatTemplate) {
  const Job job = parse_openai_chat(json::parse(kChat), ctx());
  const Tokenizer& tok = testing::demo_tokenizer();
  const std::string text = tok.decode(job.request.prompt);
  EXPECT_EQ(job.request.prompt.front(), *tok.bos_id());
  EXPECT_NE(text.find("<｜User｜>hi"), std::string::npos) << text;
  EXPECT_NE(text.find("<｜Assistant｜>"), std::string::npos) << text;
  EXPECT_EQ(job.model, "demo-coder");
  EXPECT_FALSE(job.stream);
  // No max_tokens: the rest of the context.
  EXPECT_EQ(job.request.max_tokens, 1024 - static_cast<int64_t>(job.request.prompt.size()));
  EXPECT_EQ(job.request.stop_tokens, std::vector<int32_t>{*tok.eos_id()});
  EXPECT_EQ(job.request.top_logprobs, -1);
}

TEST(ServerParseOpenAIChat, ContentPartsAndDeveloperRole) {
  const json body = json::parse(R"({"model": "demo-coder", "messages": [
      {"role": "developer", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]})");
  const Job job = parse_openai_chat(body, ctx());
  const std::string text = testing::demo_tokenizer().decode(job.request.prompt);
  EXPECT_NE(text.find("be brief"), std::string::npos) << text;
  EXPECT_NE(text.find("<｜User｜>ab"), std::string::npos) << text;
  const json image = json::parse(R"({"model": "demo-coder", "messages": [{"role": "user",
      "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]})");
  EXPECT_EQ(error_of([&] { parse_openai_chat(image, ctx()); }).status, 400);
}

TEST(ServerParseOpenAIChat, SamplingFieldsAndStops) {
  const Job job =
      parse_openai_chat(chat(R"("temperature": 0, "top_p": 0.5, "seed": 42, "presence_penalty": 1,
              "frequency_penalty": -1, "stop": ["\n\n", "END"], "max_tokens": 7,
              "stream": true, "stream_options": {"include_usage": true},
              "logprobs": true, "top_logprobs": 3, "some_future_field": {"x": 1})"),
                        ctx());
  EXPECT_EQ(job.request.sampling.temperature, 0.0f);
  EXPECT_EQ(job.request.sampling.top_p, 0.5f);
  EXPECT_EQ(job.request.sampling.seed, 42u);
  EXPECT_EQ(job.request.sampling.presence_penalty, 1.0f);
  EXPECT_EQ(job.request.sampling.frequency_penalty, -1.0f);
  EXPECT_EQ(job.stops, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_EQ(job.request.max_tokens, 7);
  EXPECT_TRUE(job.stream);
  EXPECT_TRUE(job.include_usage);
  EXPECT_TRUE(job.chat_logprobs);
  EXPECT_EQ(job.request.top_logprobs, 3);
}

TEST(ServerParseOpenAIChat, MaxCompletionTokensWins) {
  EXPECT_EQ(parse_openai_chat(chat(R"("max_tokens": 9, "max_completion_tokens": 4)"), ctx())
                .request.max_tokens,
            4);
}

TEST(ServerParseOpenAIChat, Rejections) {
  struct Case {
    const char* fields;
    int status;
    const char* param;
  };
  const Case cases[] = {
      {R"("model": "gpt-4")", 404, "model"},
      {R"("model": 3)", 400, "model"},
      {R"("n": 2)", 400, "n"},
      {R"("n": "1")", 400, "n"},
      {R"("max_tokens": -1)", 400, "max_tokens"},
      {R"("max_tokens": 0)", 400, "max_tokens"},
      {R"("max_tokens": 100000000)", 400, "max_tokens"},
      {R"("max_tokens": 1e30)", 400, "max_tokens"},
      {R"("max_tokens": "10")", 400, "max_tokens"},
      {R"("temperature": "0.5")", 400, "temperature"},
      {R"("temperature": 3)", 400, "temperature"},
      {R"("top_p": 0)", 400, "top_p"},
      {R"("stream": "yes")", 400, "stream"},
      {R"("stream_options": 1)", 400, "stream_options"},
      {R"("stop": [1, 2])", 400, "stop[]"},
      {R"("stop": ["a", "b", "c", "d", "e"])", 400, "stop"},
      {R"("logprobs": 1)", 400, "logprobs"},
      {R"("top_logprobs": 2)", 400, "top_logprobs"},
      {R"("logprobs": true, "top_logprobs": 21)", 400, "top_logprobs"},
      {R"("messages": "hi")", 400, "messages"},
      {R"("messages": [])", 400, "messages"},
      {R"("messages": [{"content": "x"}])", 400, "messages[0].role"},
      {R"("messages": [1])", 400, "messages[0]"},
      {R"("tools": [{"type": "function"}])", 400, "tools"},
      {R"("response_format": {"type": "json_object"})", 400, "response_format"},
      {R"("seed": 1.5)", 400, "seed"},
  };
  for (const Case& c : cases) {
    const ApiError e = error_of([&] { parse_openai_chat(chat(c.fields), ctx()); });
    EXPECT_EQ(e.status, c.status) << c.fields << ": " << e.what();
    EXPECT_EQ(e.param, c.param) << c.fields << ": " << e.what();
  }
  EXPECT_EQ(error_of([] { parse_openai_chat(json::parse("{}"), ctx()); }).status, 400);
}

TEST(ServerParseOpenAIChat, PromptLongerThanTheContext) {
  const ApiError e = error_of([] { parse_openai_chat(json::parse(kChat), ctx(4)); });
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.code, "context_length_exceeded");
}

TEST(ServerParseOpenAICompletion, TextPromptGetsBosAndDefaultsTo16Tokens) {
  const Job job = parse_openai_completion(
      json::parse(R"({"model": "demo-coder", "prompt": "def f():"})"), ctx());
  const Tokenizer& tok = testing::demo_tokenizer();
  ASSERT_FALSE(job.request.prompt.empty());
  EXPECT_EQ(job.request.prompt.front(), *tok.bos_id());
  EXPECT_EQ(tok.decode(std::span(job.request.prompt).subspan(1)), "def f():");
  EXPECT_EQ(job.request.max_tokens, 16);
  EXPECT_TRUE(job.echo.empty());
}

TEST(ServerParseOpenAICompletion, TokenArraysBatchesOfOneAndEcho) {
  const Job ids = parse_openai_completion(
      json::parse(R"({"model": "demo-coder", "prompt": [5, 6, 7], "echo": true})"), ctx());
  EXPECT_EQ(ids.request.prompt, (std::vector<int32_t>{5, 6, 7}));
  EXPECT_EQ(ids.echo, testing::demo_tokenizer().decode(ids.request.prompt));
  const Job one = parse_openai_completion(
      json::parse(R"({"model": "demo-coder", "prompt": ["x = 1"], "echo": true})"), ctx());
  EXPECT_EQ(one.echo, "x = 1");
  const Job nested = parse_openai_completion(
      json::parse(R"({"model": "demo-coder", "prompt": [[9, 10]]})"), ctx());
  EXPECT_EQ(nested.request.prompt, (std::vector<int32_t>{9, 10}));
}

TEST(ServerParseOpenAICompletion, SuffixMeansFillInTheMiddle) {
  const Job job = parse_openai_completion(
      json::parse(R"({"model": "demo-coder", "prompt": "def f(", "suffix": "    return x"})"),
      ctx());
  const Tokenizer& tok = testing::demo_tokenizer();
  std::vector<int32_t> fim = tok.encode_fim("def f(", "    return x");
  if (tok.add_bos() && tok.bos_id()) fim.insert(fim.begin(), *tok.bos_id());
  EXPECT_EQ(job.request.prompt, fim);
}

TEST(ServerParseOpenAICompletion, LegacyLogprobs) {
  const Job job = parse_openai_completion(
      json::parse(R"({"model": "demo-coder", "prompt": "x", "logprobs": 2})"), ctx());
  EXPECT_EQ(job.legacy_logprobs, 2);
  EXPECT_EQ(job.request.top_logprobs, 2);
}

TEST(ServerParseOpenAICompletion, Rejections) {
  const char* bodies[] = {
      R"({"model": "demo-coder"})",
      R"({"model": "demo-coder", "prompt": 5})",
      R"({"model": "demo-coder", "prompt": []})",
      R"({"model": "demo-coder", "prompt": ["a", "b"]})",
      R"({"model": "demo-coder", "prompt": [1, "a"]})",
      R"({"model": "demo-coder", "prompt": [-1]})",
      R"({"model": "demo-coder", "prompt": [8192]})",
      R"({"model": "demo-coder", "prompt": "x", "best_of": 3})",
      R"({"model": "demo-coder", "prompt": "x", "logprobs": true})",
      R"({"model": "demo-coder", "prompt": "x", "logprobs": 1, "echo": true})",
      R"({"model": "demo-coder", "prompt": [1, 2], "suffix": "y"})",
      R"({"model": "demo-coder", "prompt": "x", "max_tokens": 2000})",
      R"({"model": "demo-coder", "prompt": "x", "suffix": 1})",
  };
  for (const char* b : bodies)
    EXPECT_EQ(error_of([&] { parse_openai_completion(json::parse(b), ctx()); }).status, 400) << b;
}

TEST(ServerParseOllama, GenerateDefaultsAndTemplate) {
  const Job job = parse_ollama_generate(
      json::parse(R"({"model": "demo-coder:latest", "prompt": "hi", "system": "sys"})"), ctx());
  EXPECT_TRUE(job.stream);  // Ollama streams by default
  EXPECT_EQ(job.request.sampling.temperature, 0.8f);
  EXPECT_EQ(job.request.sampling.top_k, 40);
  EXPECT_EQ(job.request.sampling.top_p, 0.9f);
  EXPECT_EQ(job.request.sampling.repeat_penalty, 1.1f);
  const std::string text = testing::demo_tokenizer().decode(job.request.prompt);
  EXPECT_NE(text.find("sys"), std::string::npos) << text;
  EXPECT_NE(text.find("<｜User｜>hi"), std::string::npos) << text;
  EXPECT_EQ(job.request.max_tokens, 1024 - static_cast<int64_t>(job.request.prompt.size()));
}

TEST(ServerParseOllama, GenerateRawSuffixOptions) {
  const Tokenizer& tok = testing::demo_tokenizer();
  const Job raw = parse_ollama_generate(
      json::parse(R"({"model": "demo-coder", "prompt": "x = ", "raw": true, "stream": false,
                      "options": {"temperature": 0, "top_k": 5, "top_p": 0.7, "min_p": 0.1,
                                  "seed": 3, "num_predict": 12, "stop": ["\n"],
                                  "repeat_penalty": 1.0, "presence_penalty": 0.5,
                                  "frequency_penalty": 0.25, "num_ctx": 99999}})"),
      ctx());
  EXPECT_FALSE(raw.stream);
  EXPECT_EQ(tok.decode(std::span(raw.request.prompt).subspan(1)), "x = ");
  EXPECT_EQ(raw.request.sampling.temperature, 0.0f);
  EXPECT_EQ(raw.request.sampling.top_k, 5);
  EXPECT_EQ(raw.request.sampling.top_p, 0.7f);
  EXPECT_EQ(raw.request.sampling.min_p, 0.1f);
  EXPECT_EQ(raw.request.sampling.seed, 3u);
  EXPECT_EQ(raw.request.sampling.repeat_penalty, 1.0f);
  EXPECT_EQ(raw.request.sampling.presence_penalty, 0.5f);
  EXPECT_EQ(raw.request.sampling.frequency_penalty, 0.25f);
  EXPECT_EQ(raw.request.max_tokens, 12);
  EXPECT_EQ(raw.stops, std::vector<std::string>{"\n"});

  const Job fim = parse_ollama_generate(
      json::parse(R"({"model": "demo-coder", "prompt": "a", "suffix": "b"})"), ctx());
  std::vector<int32_t> want = tok.encode_fim("a", "b");
  if (tok.add_bos() && tok.bos_id()) want.insert(want.begin(), *tok.bos_id());
  EXPECT_EQ(fim.request.prompt, want);

  // num_predict beyond the context is cut to fit, as Ollama does.
  const Job big =
      parse_ollama_generate(json::parse(R"({"model": "demo-coder", "prompt": "a", "raw": true,
                      "options": {"num_predict": 100000}})"),
                            ctx());
  EXPECT_EQ(big.request.max_tokens, 1024 - static_cast<int64_t>(big.request.prompt.size()));
  const Job unlimited = parse_ollama_generate(
      json::parse(R"({"model": "demo-coder", "prompt": "a", "options": {"num_predict": -1}})"),
      ctx());
  EXPECT_EQ(unlimited.request.max_tokens,
            1024 - static_cast<int64_t>(unlimited.request.prompt.size()));
}

TEST(ServerParseOllama, EmptyPromptOnlyLoads) {
  EXPECT_TRUE(parse_ollama_generate(json::parse(R"({"model": "demo-coder"})"), ctx()).load_only);
  EXPECT_TRUE(parse_ollama_chat(json::parse(R"({"model": "demo-coder", "messages": []})"), ctx())
                  .load_only);
}

TEST(ServerParseOllama, ChatUsesTheTemplate) {
  const Job job = parse_ollama_chat(
      json::parse(R"({"model": "demo-coder", "messages": [{"role": "user", "content": "yo"}],
                      "stream": false, "options": {"temperature": 0}})"),
      ctx());
  EXPECT_FALSE(job.stream);
  EXPECT_NE(testing::demo_tokenizer().decode(job.request.prompt).find("<｜User｜>yo"),
            std::string::npos);
}

TEST(ServerParseOllama, Rejections) {
  struct Case {
    const char* body;
    int status;
  };
  const Case cases[] = {
      {R"({"prompt": "x"})", 400},
      {R"({"model": "llama3", "prompt": "x"})", 404},
      {R"({"model": "demo-coder", "prompt": 1})", 400},
      {R"({"model": "demo-coder", "prompt": "x", "stream": 1})", 400},
      {R"({"model": "demo-coder", "prompt": "x", "options": []})", 400},
      {R"({"model": "demo-coder", "prompt": "x", "options": {"temperature": "0"}})", 400},
      {R"({"model": "demo-coder", "prompt": "x", "options": {"num_predict": -5}})", 400},
      {R"({"model": "demo-coder", "prompt": "x", "options": {"num_predict": 0}})", 400},
      {R"({"model": "demo-coder", "prompt": "x", "options": {"top_k": -1}})", 400},
      {R"({"model": "demo-coder", "prompt": "x", "options": {"stop": "\n"}})", 200},
      {R"({"model": "demo-coder", "prompt": "x", "format": "json"})", 400},
      {R"({"model": "demo-coder", "prompt": "x", "images": ["aGk="]})", 400},
  };
  for (const Case& c : cases) {
    const ApiError e = error_of([&] { parse_ollama_generate(json::parse(c.body), ctx()); });
    EXPECT_EQ(e.status == 0 ? 200 : e.status, c.status) << c.body << ": " << e.what();
  }
  EXPECT_EQ(error_of([] {
              parse_ollama_chat(json::parse(R"({"model": "demo-coder", "messages": "x"})"), ctx());
            }).status,
            400);
}

}  // namespace
}  // namespace dsx::server
