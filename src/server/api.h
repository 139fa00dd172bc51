// Request parsing and validation shared by the OpenAI and Ollama routes: JSON bodies become a
// Job (prompt tokens + sampling + stop strings), or an ApiError that says which field is wrong.
// Everything here is pure (no sockets, no engine), so it is unit-tested directly.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "tokenizer/tokenizer.h"

namespace dsx::server {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

// An error the client caused (or a server condition it should see), with the HTTP status.
// `type`, `param` and `code` fill OpenAI's error object; Ollama's shape keeps only the message.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message, std::string param = {}, std::string code = {})
      : std::runtime_error(message),
        status(status),
        param(std::move(param)),
        code(std::move(code)) {}
  int status;
  std::string param;
  std::string code;
};

// OpenAI's error type for a status ("invalid_request_error", "authentication_error", ...).
const char* openai_error_type(int status);
// {"error":{"message","type","param","code"}}; param and code are null when empty.
ordered_json openai_error_body(int status, const std::string& message,
                               const std::string& param = {}, const std::string& code = {});
// {"error":"message"}, as Ollama answers.
json ollama_error_body(const std::string& message);

// Serialises JSON for the wire. Token text can hold a partial UTF-8 character (a byte token);
// invalid bytes become U+FFFD instead of throwing, so a response can always be written.
std::string dump(const json& j);
std::string dump(const ordered_json& j);

// Parses a request body; throws ApiError 400 naming the parse error.
json parse_body(const std::string& body);

// Typed access to optional fields. Absent and null both mean "not given" (the OpenAI SDKs send
// null for unset fields); a value of the wrong type is a 400 naming the field. Unknown fields are
// never looked at, so they are accepted and ignored as OpenAI does.
std::optional<bool> get_bool(const json& obj, const char* name, const std::string& where = {});
std::optional<int64_t> get_int(const json& obj, const char* name, const std::string& where = {});
std::optional<double> get_number(const json& obj, const char* name, const std::string& where = {});
std::optional<std::string> get_string(const json& obj, const char* name,
                                      const std::string& where = {});
// A string or an array of strings (OpenAI `stop`); each must be non-empty.
std::vector<std::string> get_stop(const json& obj, const char* name, int max_count,
                                  const std::string& where = {});

// What the parsers need to know about the served model.
struct ApiContext {
  const Tokenizer* tokenizer = nullptr;
  std::string model_name;
  int64_t context_size = 0;
  int max_stop_strings = 16;
};

// One generation request, independent of the API it came in on.
struct Job {
  GenerationRequest request;       // prompt tokens, sampling, max_tokens, EOS, top_logprobs
  std::vector<std::string> stops;  // stop strings (cut from the output)
  std::string model;               // the name the client used, echoed back
  bool stream = false;
  bool include_usage = false;  // OpenAI stream_options.include_usage
  bool chat_logprobs = false;  // OpenAI chat `logprobs: true`
  int legacy_logprobs = -1;    // OpenAI completions `logprobs: N` (-1: off)
  std::string echo;            // prompt text to put before the completion (`echo`)
  bool load_only = false;      // Ollama: empty prompt just "loads" the model
};

// True if `name` names the served model: exactly, or with Ollama's default ":latest" tag.
bool model_matches(const std::string& name, const std::string& served);

Job parse_openai_chat(const json& body, const ApiContext& ctx);
Job parse_openai_completion(const json& body, const ApiContext& ctx);
Job parse_ollama_generate(const json& body, const ApiContext& ctx);
Job parse_ollama_chat(const json& body, const ApiContext& ctx);

// Prompt building (prompt.cc).
// Chat messages through the model's chat template with add_generation_prompt. Content may be a
// string or OpenAI's array of {"type":"text","text":...} parts. Throws ApiError 400.
std::vector<int32_t> chat_prompt(const ApiContext& ctx, const json& messages, const char* param);
// Plain text, with BOS when the tokenizer config asks for it.
std::vector<int32_t> text_prompt(const ApiContext& ctx, const std::string& text);
// Fill-in-the-middle (prefix + hole + suffix), with BOS when the config asks for it.
std::vector<int32_t> fim_prompt(const ApiContext& ctx, const std::string& prefix,
                                const std::string& suffix);
// Checks the prompt against the context and settles max_tokens: `requested` < 1 or a prompt that
// leaves no room is a 400; absent means "the rest of the context". With clamp (Ollama) a larger
// request is cut to fit; without (OpenAI) it is a 400 as OpenAI answers.
int64_t settle_max_tokens(const ApiContext& ctx, size_t prompt_tokens,
                          std::optional<int64_t> requested, bool clamp, const char* param,
                          const char* prompt_param);

}  // namespace dsx::server
