// Prometheus text exposition.
#include <gtest/gtest.h>

#include "server/metrics.h"

namespace dsx::server {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(ServerMetrics, CountersGaugesAndLabels) {
  Metrics m;
  m.request("/v1/chat/completions", 200);
  m.request("/v1/chat/completions", 200);
  m.request("/v1/chat/completions", 400);
  m.tokens(10, 5);
  m.tokens(3, 2);
  EngineStats st;
  st.running = 2;
  st.waiting = 1;
  st.kv_blocks_used = 7;
  st.kv_blocks_total = 64;
  const std::string text = m.render(st);
  EXPECT_TRUE(has_line(text, R"(dsx_requests_total{route="/v1/chat/completions",status="200"} 2)"))
      << text;
  EXPECT_TRUE(has_line(text, R"(dsx_requests_total{route="/v1/chat/completions",status="400"} 1)"));
  EXPECT_TRUE(has_line(text, "dsx_prompt_tokens_total 13"));
  EXPECT_TRUE(has_line(text, "dsx_generated_tokens_total 7"));
  EXPECT_TRUE(has_line(text, "dsx_requests_running 2"));
  EXPECT_TRUE(has_line(text, "dsx_requests_waiting 1"));
  EXPECT_TRUE(has_line(text, "dsx_kv_cache_blocks_used 7"));
  EXPECT_TRUE(has_line(text, "dsx_kv_cache_blocks_total 64"));
  EXPECT_TRUE(has_line(text, "# TYPE dsx_requests_total counter"));
  EXPECT_TRUE(has_line(text, "# TYPE dsx_time_to_first_token_seconds histogram"));
  EXPECT_TRUE(has_line(text, "# TYPE dsx_time_per_output_token_seconds histogram"));
  EXPECT_EQ(text.back(), '\n');
}

TEST(ServerMetrics, HistogramBucketsAreCumulative) {
  Histogram h({0.1, 1.0});
  h.observe(0.05);
  h.observe(0.1);  // on a bound: counts in that bucket (le is <=)
  h.observe(0.5);
  h.observe(7.0);
  const std::string text = h.render("x");
  EXPECT_TRUE(has_line(text, R"(x_bucket{le="0.1"} 2)")) << text;
  EXPECT_TRUE(has_line(text, R"(x_bucket{le="1"} 3)")) << text;
  EXPECT_TRUE(has_line(text, R"(x_bucket{le="+Inf"} 4)")) << text;
  EXPECT_TRUE(has_line(text, "x_sum 7.65")) << text;
  EXPECT_TRUE(has_line(text, "x_count 4")) << text;
}

TEST(ServerMetrics, LatencyHistogramsAreRendered) {
  Metrics m;
  m.time_to_first_token(0.02);
  m.time_per_output_token(0.004);
  const std::string text = m.render(EngineStats{});
  EXPECT_TRUE(has_line(text, "dsx_time_to_first_token_seconds_count 1")) << text;
  EXPECT_TRUE(has_line(text, R"(dsx_time_to_first_token_seconds_bucket{le="0.025"} 1)"));
  EXPECT_TRUE(has_line(text, R"(dsx_time_to_first_token_seconds_bucket{le="0.01"} 0)"));
  EXPECT_TRUE(has_line(text, "dsx_time_per_output_token_seconds_count 1"));
}

TEST(ServerMetrics, LabelValuesAreEscaped) {
  EXPECT_EQ(prometheus_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

}  // namespace
}  // namespace dsx::server
