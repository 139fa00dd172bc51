// SSE and NDJSON framing.
#include <gtest/gtest.h>

#include <regex>

#include "server/framing.h"

namespace dsx::server {
namespace {

TEST(ServerFraming, SseEventIsOneDataLineAndABlankLine) {
  const json j = {{"text", "a\nb"}};
  EXPECT_EQ(sse_event(j), "data: {\"text\":\"a\\nb\"}\n\n");
  EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
}

TEST(ServerFraming, OrderedJsonKeepsKeyOrder) {
  const ordered_json j = {{"z", 1}, {"a", 2}};
  EXPECT_EQ(sse_event(j), "data: {\"z\":1,\"a\":2}\n\n");
  EXPECT_EQ(ndjson_line(j), "{\"z\":1,\"a\":2}\n");
}

TEST(ServerFraming, NdjsonIsOneLinePerObject) {
  const std::string line = ndjson_line(json{{"response", "x\ny"}, {"done", false}});
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
}

TEST(ServerFraming, ParseSseRoundTrips) {
  const std::string stream =
      sse_event(json{{"a", 1}}) + ": comment\n\n" + "data:{\"b\":2}\r\n\r\n" + sse_done();
  const std::vector<std::string> events = parse_sse(stream);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0], "{\"a\":1}");
  EXPECT_EQ(events[1], "{\"b\":2}");
  EXPECT_EQ(events[2], "[DONE]");
}

TEST(ServerFraming, Rfc3339HasNanosecondsAndZ) {
  EXPECT_TRUE(
      std::regex_match(rfc3339_now(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z)")));
}

}  // namespace
}  // namespace dsx::server
