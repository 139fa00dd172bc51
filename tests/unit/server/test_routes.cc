// Route handlers driven directly (no sockets): request bodies in, response bodies and streamed
// chunks out, with a scripted backend. The streaming provider is called the way httplib calls it.
#include <gtest/gtest.h>

#include "fake_backend.h"
#include "server/framing.h"
#include "server/routes.h"

namespace dsx::server {
namespace {

using testing::demo_tokenizer;
using testing::FakeBackend;

struct Fixture {
  std::shared_ptr<FakeBackend> backend = std::make_shared<FakeBackend>();
  ServerState state;

  Fixture() : state(ServerOptions{}, info(), demo_tokenizer(), backend) {}
  static ModelInfo info() {
    ModelInfo i;
    i.name = "demo-coder";
    i.dir = std::string(DSX_MODELS_DIR) + "/demo-coder";
    i.config = ModelConfig::load(i.dir);
    i.parameters = 12345678;
    i.size_bytes = 24691356;
    i.dtype = "BF16";
    return i;
  }
};

struct Written {
  std::string data;
  bool done = false;
  bool ok = true;  // provider's last return
};

// Calls a chunked provider until it finishes; `fail_after` bytes, the next write fails (the
// client went away).
Written pump(httplib::Response& res, size_t fail_after = SIZE_MAX) {
  Written w;
  httplib::DataSink sink;
  sink.write = [&](const char* d, size_t n) {
    if (w.data.size() >= fail_after) return false;
    w.data.append(d, n);
    return true;
  };
  sink.is_writable = [] { return true; };
  sink.done = [&] { w.done = true; };
  for (int i = 0; i < 1000 && !w.done; ++i) {
    w.ok = res.content_provider_(w.data.size(), 0, sink);
    if (!w.ok) break;
  }
  return w;
}

httplib::Request post(const std::string& body) {
  httplib::Request req;
  req.method = "POST";
  req.body = body;
  req.set_header("Accept-Encoding", "gzip");
  return req;
}

TEST(ServerRoutesOpenAI, ChatNonStream) {
  Fixture f;
  f.backend->tokens = demo_tokenizer().encode("return 42");
  httplib::Response res;
  openai_chat(f.state, post(R"({"model":"demo-coder","messages":[{"role":"user","content":"q"}],
                               "max_tokens":5,"temperature":0})"),
              res);
  EXPECT_EQ(res.status, 200);
  const json j = json::parse(res.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "demo-coder");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "return 42");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], f.backend->tokens.size());
  EXPECT_EQ(j["usage"]["total_tokens"],
            j["usage"]["prompt_tokens"].get<int>() + j["usage"]["completion_tokens"].get<int>());
  ASSERT_EQ(f.backend->submitted.size(), 1u);
  EXPECT_EQ(f.backend->submitted[0].max_tokens, 5);
  EXPECT_EQ(f.backend->submitted[0].sampling.temperature, 0.0f);
}

TEST(ServerRoutesOpenAI, ChatStreamWithUsageAndLogprobs) {
  Fixture f;
  f.backend->tokens = demo_tokenizer().encode("x = [1, 2]");
  httplib::Request req = post(R"({"model":"demo-coder","messages":[{"role":"user","content":"q"}],
      "stream":true,"stream_options":{"include_usage":true},"logprobs":true,"top_logprobs":1})");
  httplib::Response res;
  openai_chat(f.state, req, res);
  EXPECT_FALSE(req.has_header("Accept-Encoding"));  // streams are never gzipped
  const Written w = pump(res);
  EXPECT_TRUE(w.done);
  const std::vector<std::string> events = parse_sse(w.data);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  const json first = json::parse(events[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(first["usage"].is_null());
  std::string text;
  size_t logprobs = 0;
  std::string finish;
  json usage;
  for (size_t i = 1; i + 1 < events.size(); ++i) {
    const json c = json::parse(events[i]);
    EXPECT_EQ(c["id"], first["id"]);
    if (c["choices"].empty()) {
      usage = c["usage"];
      continue;
    }
    const json& ch = c["choices"][0];
    if (ch["delta"].contains("content")) text += ch["delta"]["content"].get<std::string>();
    if (!ch["logprobs"].is_null()) logprobs += ch["logprobs"]["content"].size();
    if (!ch["finish_reason"].is_null()) finish = ch["finish_reason"];
  }
  EXPECT_EQ(text, "x = [1, 2]");
  EXPECT_EQ(logprobs, f.backend->tokens.size());
  EXPECT_EQ(finish, "length");
  EXPECT_EQ(usage["completion_tokens"], f.backend->tokens.size());
}

TEST(ServerRoutesOpenAI, ClientDisconnectCancels) {
  Fixture f;
  f.backend->tokens = demo_tokenizer().encode("for i in range(10):");
  f.backend->deliver_finish = false;  // the engine would keep going
  httplib::Response res;
  openai_chat(f.state, post(R"({"model":"demo-coder","messages":[{"role":"user","content":"q"}],
                               "stream":true})"),
              res);
  const Written w = pump(res, /*fail_after=*/1);  // the head goes out, then the socket is gone
  EXPECT_FALSE(w.ok);
  EXPECT_FALSE(w.done);
  EXPECT_EQ(f.backend->cancelled.size(), 1u);
}

TEST(ServerRoutesOpenAI, CompletionEchoAndLegacyLogprobs) {
  Fixture f;
  f.backend->tokens = demo_tokenizer().encode(" = 3");
  httplib::Response res;
  openai_completion(f.state, post(R"({"model":"demo-coder","prompt":"x","echo":true})"), res);
  json j = json::parse(res.body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], "x = 3");
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());

  httplib::Response res2;
  openai_completion(f.state, post(R"({"model":"demo-coder","prompt":"x","logprobs":1})"), res2);
  j = json::parse(res2.body);
  const json& lp = j["choices"][0]["logprobs"];
  ASSERT_EQ(lp["tokens"].size(), f.backend->tokens.size());
  EXPECT_EQ(lp["token_logprobs"].size(), f.backend->tokens.size());
  EXPECT_EQ(lp["top_logprobs"][0].size(), 1u);
  EXPECT_EQ(lp["text_offset"][0], 0);
}

TEST(ServerRoutesOpenAI, CompletionStreamEndsWithDone) {
  Fixture f;
  f.backend->tokens = demo_tokenizer().encode("pass");
  httplib::Response res;
  openai_completion(f.state, post(R"({"model":"demo-coder","prompt":"def f():","stream":true})"),
                    res);
  const std::vector<std::string> events = parse_sse(pump(res).data);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  for (size_t i = 0; i + 1 < events.size(); ++i)
    text += json::parse(events[i])["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(text, "pass");
  EXPECT_EQ(json::parse(events[events.size() - 2])["choices"][0]["finish_reason"], "length");
}

TEST(ServerRoutesOpenAI, ErrorsAreThrownAsApiErrors) {
  Fixture f;
  httplib::Response res;
  auto status = [&](const std::string& body) {
    try {
      openai_chat(f.state, post(body), res);
    } catch (const ApiError& e) {
      return e.status;
    }
    return 200;
  };
  EXPECT_EQ(status("{"), 400);
  EXPECT_EQ(status(R"({"model":"nope","messages":[{"role":"user","content":"q"}]})"), 404);
  f.backend->busy = true;
  EXPECT_EQ(status(R"({"model":"demo-coder","messages":[{"role":"user","content":"q"}]})"), 503);
  f.backend->busy = false;
  f.backend->finish = FinishReason::Error;
  f.backend->error = "boom";
  EXPECT_EQ(status(R"({"model":"demo-coder","messages":[{"role":"user","content":"q"}]})"), 500);
}

TEST(ServerRoutesOpenAI, Models) {
  Fixture f;
  httplib::Response res;
  openai_models(f.state, httplib::Request{}, res);
  const json j = json::parse(res.body);
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["data"][0]["id"], "demo-coder");
  EXPECT_EQ(j["data"][0]["object"], "model");
}

TEST(ServerRoutesOllama, GenerateStreamIsNdjsonEndingWithDone) {
  Fixture f;
  f.backend->tokens = demo_tokenizer().encode("print('hi')");
  f.backend->finish = FinishReason::Stop;
  httplib::Response res;
  ollama_generate(f.state, post(R"({"model":"demo-coder","prompt":"p"})"), res);
  const Written w = pump(res);
  EXPECT_TRUE(w.done);
  std::string text;
  json last;
  size_t start = 0;
  while (start < w.data.size()) {
    const size_t end = w.data.find('\n', start);
    ASSERT_NE(end, std::string::npos);
    last = json::parse(w.data.substr(start, end - start));
    text += last["response"].get<std::string>();
    start = end + 1;
  }
  EXPECT_EQ(text, "print('hi')");
  EXPECT_EQ(last["done"], true);
  EXPECT_EQ(last["done_reason"], "stop");
  EXPECT_EQ(last["eval_count"], f.backend->tokens.size());
  for (const char* k : {"total_duration", "load_duration", "prompt_eval_count",
                        "prompt_eval_duration", "eval_duration"})
    EXPECT_TRUE(last[k].is_number_integer()) << k;
}

TEST(ServerRoutesOllama, ChatNonStreamAndLoad) {
  Fixture f;
  f.backend->tokens = demo_tokenizer().encode("ok");
  httplib::Response res;
  ollama_chat(f.state, post(R"({"model":"demo-coder","stream":false,
                               "messages":[{"role":"user","content":"q"}]})"),
              res);
  json j = json::parse(res.body);
  EXPECT_EQ(j["message"]["role"], "assistant");
  EXPECT_EQ(j["message"]["content"], "ok");
  EXPECT_EQ(j["done"], true);

  httplib::Response load;
  ollama_generate(f.state, post(R"({"model":"demo-coder"})"), load);
  j = json::parse(load.body);
  EXPECT_EQ(j["done_reason"], "load");
  EXPECT_EQ(f.backend->submitted.size(), 1u);  // loading submits nothing
}

TEST(ServerRoutesOllama, TagsShowVersion) {
  Fixture f;
  httplib::Response tags;
  ollama_tags(f.state, httplib::Request{}, tags);
  json j = json::parse(tags.body);
  EXPECT_EQ(j["models"][0]["name"], "demo-coder:latest");
  EXPECT_EQ(j["models"][0]["details"]["family"], "deepseek_v3");
  EXPECT_EQ(j["models"][0]["details"]["parameter_size"], "12.3M");

  httplib::Response show;
  ollama_show(f.state, post(R"({"model":"demo-coder"})"), show);
  j = json::parse(show.body);
  EXPECT_EQ(j["model_info"]["general.architecture"], "deepseek_v3");
  EXPECT_FALSE(j["template"].get<std::string>().empty());
  EXPECT_NE(std::find(j["capabilities"].begin(), j["capabilities"].end(), "insert"),
            j["capabilities"].end());
  EXPECT_THROW(ollama_show(f.state, post(R"({"model":"x"})"), show), ApiError);

  httplib::Response version;
  ollama_version(f.state, httplib::Request{}, version);
  EXPECT_TRUE(json::parse(version.body)["version"].is_string());
}

TEST(ServerRoutesMisc, HealthMetricsRoot) {
  Fixture f;
  httplib::Response h;
  health(f.state, httplib::Request{}, h);
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(json::parse(h.body)["status"], "ok");
  httplib::Response m;
  metrics(f.state, httplib::Request{}, m);
  EXPECT_NE(m.body.find("dsx_kv_cache_blocks_total 64"), std::string::npos);
  httplib::Response r;
  root(f.state, httplib::Request{}, r);
  EXPECT_EQ(r.body, "Ollama is running");
}

}  // namespace
}  // namespace dsx::server
