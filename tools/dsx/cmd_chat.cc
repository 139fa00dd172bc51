// dsx chat (and dsx run): an interactive, streaming, multi-turn chat through the model's own
// chat template. /clear starts over, /exit leaves; Ctrl-C stops the current answer only.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "template/template.h"
#include "text.h"

namespace dsx::cli {

namespace {

struct ChatArgs {
  ModelFlags model;
  SamplingFlags sampling;
  std::string system;
  int64_t n = 1024;
};

// Set by SIGINT while an answer streams. A signal handler can only reach static storage; this is
// the one such flag in dsx and only the chat loop reads it.
std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) {
  g_interrupted.store(true);
}

std::string token_text(const Tokenizer& tok, std::optional<int32_t> id) {
  return id ? tok.token_bytes(*id) : std::string();
}

}  // namespace

Command add_chat(CLI::App& app) {
  auto args = std::make_shared<ChatArgs>();
  args->model.add(app);
  app.add_option("--system", args->system, "system prompt");
  app.add_option("-n,--n-predict", args->n, "tokens per answer at most")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  args->sampling.add(app, 0.7f);
  return [args]() {
    check_utf8(args->system, "--system");
    args->sampling.params.validate();
    TextModel m(args->model);
    const std::string tmpl = m.tokenizer.chat_template();
    if (tmpl.empty())
      throw Error(args->model.model + ": tokenizer_config.json has no chat_template");
    const std::string bos = token_text(m.tokenizer, m.tokenizer.bos_id());
    const std::string eos = token_text(m.tokenizer, m.tokenizer.eos_id());
    const bool tty = isatty(STDIN_FILENO);

    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    auto reset = [&] {
      messages = nlohmann::ordered_json::array();
      if (!args->system.empty())
        messages.push_back({{"role", "system"}, {"content", args->system}});
    };
    reset();
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, nullptr);

    std::string line;
    for (;;) {
      if (tty) std::fputs("> ", stdout), std::fflush(stdout);
      if (!std::getline(std::cin, line)) break;
      if (line == "/exit" || line == "/quit") break;
      if (line == "/clear") {
        reset();
        if (tty) std::puts("(conversation cleared)");
        continue;
      }
      if (line.empty()) continue;
      try {
        check_utf8(line, "input");
      } catch (const Error& e) {
        std::fprintf(stderr, "dsx: %s\n", e.what());
        continue;
      }
      messages.push_back({{"role", "user"}, {"content", line}});
      // The template already writes BOS; encode its output as it is.
      const std::string text = render_chat_template(tmpl, messages, true, bos, eos);
      const std::vector<int32_t> prompt = m.tokenizer.encode(text);
      std::string answer;
      g_interrupted.store(false);
      try {
        generate_text(
            m, prompt, args->n, args->sampling.params,
            [&](const std::string& piece) {
              answer += piece;
              std::fwrite(piece.data(), 1, piece.size(), stdout);
              std::fflush(stdout);
            },
            &g_interrupted);
      } catch (const Error& e) {
        // A full context or a bad turn ends this answer, not the session.
        std::fprintf(stderr, "\ndsx: %s\n", e.what());
        messages.erase(messages.size() - 1);
        continue;
      }
      std::puts("");
      messages.push_back({{"role", "assistant"}, {"content", answer}});
    }
    return 0;
  };
}

}  // namespace dsx::cli
