// Error bodies in the two shapes clients parse: OpenAI's nested object and Ollama's flat string.
#include "server/api.h"

namespace dsx::server {

const char* openai_error_type(int status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 429:
      return "rate_limit_error";
    case 503:
      return "overloaded_error";
    default:
      return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

ordered_json openai_error_body(int status, const std::string& message, const std::string& param,
                               const std::string& code) {
  ordered_json err = {{"message", message},
                      {"type", openai_error_type(status)},
                      {"param", param.empty() ? ordered_json(nullptr) : ordered_json(param)},
                      {"code", code.empty() ? ordered_json(nullptr) : ordered_json(code)}};
  return {{"error", std::move(err)}};
}

json ollama_error_body(const std::string& message) {
  return {{"error", message}};
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string dump(const ordered_json& j) {
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

}  // namespace dsx::server
