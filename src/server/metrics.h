// Prometheus metrics of the server: request counts by route and status, token counters,
// latency histograms, and the engine's gauges (read from EngineStats when scraped).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.h"

namespace dsx::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);  // upper bounds, ascending
  void observe(double v);
  // The _bucket/_sum/_count lines of `name` (cumulative buckets, +Inf last).
  std::string render(const std::string& name) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket, not cumulative; last: above every bound
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  void request(const std::string& route, int status);
  void tokens(int64_t prompt, int64_t generated);
  void time_to_first_token(double seconds);
  void time_per_output_token(double seconds);
  void session_started();
  void session_ended();

  // The text exposition format (version 0.0.4).
  std::string render(const EngineStats& engine) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  int64_t prompt_tokens_ = 0;
  int64_t generated_tokens_ = 0;
  int64_t in_flight_ = 0;
  Histogram ttft_;
  Histogram tpot_;
};

// Escapes a label value (backslash, quote, newline).
std::string prometheus_label(const std::string& v);

}  // namespace dsx::server
