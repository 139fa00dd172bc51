// dsx tokenize: text on stdin -> token ids as a JSON array; --jsonl: one JSON string per line in,
// one JSON array per line out.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "text.h"

namespace dsx::cli {

namespace {
struct TokenizeArgs {
  std::string model;
  bool jsonl = false;
  bool no_special = false;
};

std::string ids_json(const std::vector<int32_t>& ids) {
  return nlohmann::json(ids).dump();
}
}  // namespace

Command add_tokenize(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  app.add_option("-m,--model", args->model, "model folder with tokenizer.json")->required();
  app.add_flag("--jsonl", args->jsonl,
               "each input line is a JSON string; print one array per line");
  app.add_flag("--no-special", args->no_special, "treat special tokens in the text as plain text");
  return [args]() {
    Tokenizer tok = Tokenizer::load(args->model);
    if (!args->jsonl) {
      std::printf("%s\n", ids_json(tok.encode(read_stdin_utf8(), !args->no_special)).c_str());
      return 0;
    }
    std::string line;
    for (int64_t n = 1; std::getline(std::cin, line); ++n) {
      if (line.empty()) continue;
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception&) {
        throw Error("stdin line " + std::to_string(n) + ": not valid JSON");
      }
      if (!j.is_string()) throw Error("stdin line " + std::to_string(n) + ": not a JSON string");
      const std::string text = j.get<std::string>();
      check_utf8(text, "stdin line " + std::to_string(n));
      std::printf("%s\n", ids_json(tok.encode(text, !args->no_special)).c_str());
    }
    return 0;
  };
}

}  // namespace dsx::cli
