// SSE and NDJSON framing.
#include <chrono>
#include <cstdio>
#include <ctime>

#include "server/framing.h"

namespace dsx::server {

std::string sse_event(const json& j) {
  return "data: " + dump(j) + "\n\n";
}

std::string sse_event(const ordered_json& j) {
  return "data: " + dump(j) + "\n\n";
}

std::string sse_done() {
  return "data: [DONE]\n\n";
}

std::string ndjson_line(const json& j) {
  return dump(j) + "\n";
}

std::string ndjson_line(const ordered_json& j) {
  return dump(j) + "\n";
}

std::vector<std::string> parse_sse(std::string_view stream) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < stream.size()) {
    size_t end = stream.find('\n', pos);
    if (end == std::string_view::npos) end = stream.size();
    std::string_view line = stream.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.substr(0, 5) == "data:") {
      line.remove_prefix(5);
      if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      out.emplace_back(line);
    }
    pos = end + 1;
  }
  return out;
}

std::string rfc3339_now() {
  const auto now = std::chrono::system_clock::now();
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch());
  const std::time_t secs = static_cast<std::time_t>(ns.count() / 1000000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%09lldZ",
                static_cast<long long>(ns.count() % 1000000000));
  return buf;
}

}  // namespace dsx::server
