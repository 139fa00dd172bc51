// dsx complete: fill-in-the-middle code completion with the model's own FIM tokens.
#include <cstdio>

#include "text.h"

namespace dsx::cli {

namespace {
struct CompleteArgs {
  ModelFlags model;
  SamplingFlags sampling;
  std::string prefix;
  std::string suffix;
  int64_t n = 128;
};
}  // namespace

Command add_complete(CLI::App& app) {
  auto args = std::make_shared<CompleteArgs>();
  args->model.add(app);
  app.add_option("--prefix", args->prefix, "code before the cursor")->required();
  app.add_option("--suffix", args->suffix, "code after the cursor");
  app.add_option("-n,--n-predict", args->n, "tokens to generate at most")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24));
  args->sampling.add(app, 0.2f);
  return [args]() {
    check_utf8(args->prefix, "--prefix");
    check_utf8(args->suffix, "--suffix");
    if (args->prefix.empty() && args->suffix.empty())
      throw Error("--prefix and --suffix are both empty");
    args->sampling.params.validate();
    TextModel m(args->model);
    std::vector<int32_t> prompt;
    if (m.tokenizer.add_bos() && m.tokenizer.bos_id()) prompt.push_back(*m.tokenizer.bos_id());
    const std::vector<int32_t> fim = m.tokenizer.encode_fim(args->prefix, args->suffix);
    prompt.insert(prompt.end(), fim.begin(), fim.end());
    generate_text(m, prompt, args->n, args->sampling.params, [](const std::string& piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    });
    std::printf("\n");
    return 0;
  };
}

}  // namespace dsx::cli
