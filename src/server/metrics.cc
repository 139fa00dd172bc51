// Prometheus text exposition. One mutex guards everything: updates are a few per request and
// scrapes are rare, so contention is not worth finer locking.
#include "server/metrics.h"

#include <cstdio>

namespace dsx::server {
namespace {

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string& out, const char* name, double v) {
  out += std::string(name) + " " + num(v) + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

std::string Histogram::render(const std::string& name) const {
  std::string out;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{le=\"" + num(bounds_[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count_) + "\n";
  out += name + "_sum " + num(sum_) + "\n";
  out += name + "_count " + std::to_string(count_) + "\n";
  return out;
}

std::string prometheus_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

Metrics::Metrics()
    : ttft_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}),
      tpot_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}) {}

void Metrics::request(const std::string& route, int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{route, status}];
}

void Metrics::tokens(int64_t prompt, int64_t generated) {
  std::lock_guard<std::mutex> lock(mutex_);
  prompt_tokens_ += prompt;
  generated_tokens_ += generated;
}

void Metrics::time_to_first_token(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ttft_.observe(seconds);
}

void Metrics::time_per_output_token(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  tpot_.observe(seconds);
}

void Metrics::session_started() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++in_flight_;
}

void Metrics::session_ended() {
  std::lock_guard<std::mutex> lock(mutex_);
  --in_flight_;
}

std::string Metrics::render(const EngineStats& engine) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  header(out, "dsx_requests_total", "counter", "HTTP requests by route and status code.");
  for (const auto& [key, n] : requests_)
    out += "dsx_requests_total{route=\"" + prometheus_label(key.first) + "\",status=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  header(out, "dsx_prompt_tokens_total", "counter",
         "Prompt tokens of requests that have ended (finished or cancelled).");
  sample(out, "dsx_prompt_tokens_total", static_cast<double>(prompt_tokens_));
  header(out, "dsx_generated_tokens_total", "counter",
         "Tokens generated for requests that have ended (finished or cancelled).");
  sample(out, "dsx_generated_tokens_total", static_cast<double>(generated_tokens_));
  header(out, "dsx_requests_in_flight", "gauge", "Generation requests the HTTP layer holds.");
  sample(out, "dsx_requests_in_flight", static_cast<double>(in_flight_));
  header(out, "dsx_requests_running", "gauge", "Sequences in the engine's batch.");
  sample(out, "dsx_requests_running", static_cast<double>(engine.running));
  header(out, "dsx_requests_waiting", "gauge", "Requests queued for the engine.");
  sample(out, "dsx_requests_waiting", static_cast<double>(engine.waiting));
  header(out, "dsx_kv_cache_blocks_used", "gauge", "Latent cache blocks in use.");
  sample(out, "dsx_kv_cache_blocks_used", static_cast<double>(engine.kv_blocks_used));
  header(out, "dsx_kv_cache_blocks_total", "gauge", "Latent cache blocks in the pool.");
  sample(out, "dsx_kv_cache_blocks_total", static_cast<double>(engine.kv_blocks_total));
  header(out, "dsx_engine_steps_total", "counter", "Forward passes of the engine.");
  sample(out, "dsx_engine_steps_total", static_cast<double>(engine.steps));
  header(out, "dsx_time_to_first_token_seconds", "histogram",
         "From request arrival to the first generated token.");
  out += ttft_.render("dsx_time_to_first_token_seconds");
  header(out, "dsx_time_per_output_token_seconds", "histogram",
         "Mean time between generated tokens of a request, after the first.");
  out += tpot_.render("dsx_time_per_output_token_seconds");
  return out;
}

}  // namespace dsx::server
