// dsx: run and serve DeepSeek-architecture models. Subcommands live in cmd_*.cc.
#include <cstdio>
#include <map>

#include "commands.h"
#include "core/core.h"

int main(int argc, char** argv) {
  CLI::App app{"dsx: run and serve DeepSeek-architecture language models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "dsx 0.1.0");
  std::map<CLI::App*, dsx::cli::Command> commands;
  auto add = [&](const char* name, const char* help, dsx::cli::Command (*fn)(CLI::App&)) {
    CLI::App* sub = app.add_subcommand(name, help);
    commands[sub] = fn(*sub);
  };
  add("generate", "generate tokens from a prompt", dsx::cli::add_generate);
  add("verify", "compare the engine with a reference.safetensors", dsx::cli::add_verify);
  add("complete", "fill in the middle between --prefix and --suffix", dsx::cli::add_complete);
  add("chat", "chat interactively with the model's chat template", dsx::cli::add_chat);
  add("run", "same as chat (Ollama's name for it)", dsx::cli::add_chat);
  add("tokenize", "print the token ids of text on stdin", dsx::cli::add_tokenize);
  add("perplexity", "perplexity over held-out tokens", dsx::cli::add_perplexity);
  add("serve", "serve the OpenAI- and Ollama-compatible HTTP API", dsx::cli::add_serve);
  add("synth", "write a random-weight checkpoint with a real model's shape", dsx::cli::add_synth);
  add("bench", "measure prefill and decode against the machine's limits", dsx::cli::add_bench);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    for (auto& [sub, run] : commands) {
      if (sub->parsed()) return run();
    }
  } catch (const dsx::Error& e) {
    std::fprintf(stderr, "dsx: error: %s\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "dsx: error: out of memory\n");
    return 2;
  }
  return 2;
}
