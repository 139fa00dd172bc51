// Wire framing of streamed responses: OpenAI's server-sent events and Ollama's NDJSON.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "server/api.h"

namespace dsx::server {

// "data: <json>\n\n". JSON never holds a raw newline, so one data line per event is enough.
std::string sse_event(const json& j);
std::string sse_event(const ordered_json& j);
// The OpenAI stream terminator "data: [DONE]\n\n".
std::string sse_done();
// "<json>\n".
std::string ndjson_line(const json& j);
std::string ndjson_line(const ordered_json& j);

// Splits an SSE stream into the payloads of its data lines (for tests and the client side).
std::vector<std::string> parse_sse(std::string_view stream);

// RFC 3339 UTC time with nanoseconds, as Ollama writes created_at.
std::string rfc3339_now();

}  // namespace dsx::server
