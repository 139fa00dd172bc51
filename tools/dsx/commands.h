// The dsx subcommands. Each registers its options on a CLI11 app and returns a callback that runs
// it and yields the exit code (0 ok, 1 a check failed, 2 bad input).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace dsx::cli {

using Command = std::function<int()>;

Command add_generate(CLI::App& app);
Command add_verify(CLI::App& app);
Command add_complete(CLI::App& app);
Command add_chat(CLI::App& app);
Command add_tokenize(CLI::App& app);
Command add_perplexity(CLI::App& app);
Command add_serve(CLI::App& app);
Command add_synth(CLI::App& app);
Command add_bench(CLI::App& app);

}  // namespace dsx::cli
