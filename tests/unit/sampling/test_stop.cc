#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/core.h"
#include "sampling/sampling.h"

namespace dsx {
namespace {

// Feeds pieces in order; returns everything emitted (flushing at the end unless stopped).
struct Streamed {
  std::string text;
  bool stopped = false;
  int stop_index = -1;
};
Streamed feed_all(StopMatcher& m, const std::vector<std::string>& pieces) {
  Streamed run;
  for (const std::string& p : pieces) {
    const StopMatcher::Result r = m.feed(p);
    run.text += r.emit;
    if (r.stopped) {
      run.stopped = true;
      run.stop_index = r.stop_index;
    }
  }
  if (!run.stopped) run.text += m.flush();
  return run;
}

TEST(StopMatcher, NoStopsPassesEverythingThroughAtOnce) {
  StopMatcher m({});
  EXPECT_EQ(m.feed("hello").emit, "hello");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, StopInOnePiece) {
  StopMatcher m({"STOP"});
  const StopMatcher::Result r = m.feed("hello STOP world");
  EXPECT_EQ(r.emit, "hello ");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.stop_index, 0);
}

TEST(StopMatcher, StopSplitAcrossPiecesIsHeldBackThenDropped) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.feed("hel").emit, "hel");
  EXPECT_EQ(m.feed("lo ST").emit, "lo ");  // "ST" could be the start of STOP
  const StopMatcher::Result r = m.feed("OP and more");
  EXPECT_EQ(r.emit, "");
  EXPECT_TRUE(r.stopped);
  EXPECT_TRUE(m.stopped());
  // Stopped is final.
  EXPECT_EQ(m.feed("x").emit, "");
  EXPECT_TRUE(m.feed("x").stopped);
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, HoldbackIsReleasedWhenTheTextDiverges) {
  StopMatcher m({"abc"});
  EXPECT_EQ(m.feed("xab").emit, "x");
  const StopMatcher::Result r = m.feed("d");
  EXPECT_EQ(r.emit, "abd");
  EXPECT_FALSE(r.stopped);
}

TEST(StopMatcher, OverlappingPrefixes) {
  // "aaab" contains "aab" starting at 1: the first "a" is safe, the rest is the stop.
  StopMatcher m({"aab"});
  EXPECT_EQ(feed_all(m, {"a", "a", "a", "b"}).text, "a");
  StopMatcher m2({"abab"});
  const Streamed r = feed_all(m2, {"ab", "ab", "ab"});  // matches at 0; nothing emitted
  EXPECT_EQ(r.text, "");
  EXPECT_TRUE(r.stopped);
}

TEST(StopMatcher, MultipleStopsTheFirstToCompleteWins) {
  StopMatcher m({"world", "lo"});
  const Streamed r = feed_all(m, {"hel", "lo wor", "ld"});
  EXPECT_EQ(r.text, "hel");
  EXPECT_EQ(r.stop_index, 1);
  StopMatcher nested({"abc", "ab"});
  EXPECT_EQ(feed_all(nested, {"xabc"}).text, "x");
  // "c" completes before "accc" does, however the text is split.
  for (const std::vector<std::string>& pieces :
       {std::vector<std::string>{"aaccc"}, std::vector<std::string>{"aa", "ccc"},
        std::vector<std::string>{"a", "a", "c", "c", "c"}}) {
    StopMatcher m2({"accc", "c"});
    const Streamed r = feed_all(m2, pieces);
    EXPECT_EQ(r.text, "aa");
    EXPECT_EQ(r.stop_index, 1);
  }
  // Two stops completing together: the longer one, which started earlier, cuts.
  StopMatcher tie({"bc", "abc"});
  const Streamed t = feed_all(tie, {"xab", "c"});
  EXPECT_EQ(t.text, "x");
  EXPECT_EQ(t.stop_index, 1);
}

TEST(StopMatcher, FlushReturnsTheHeldTailWithNoFalseHoldback) {
  StopMatcher m({"cd", "</s>"});
  EXPECT_EQ(m.feed("abc").emit, "ab");
  EXPECT_EQ(m.feed("</").emit, "c");
  EXPECT_EQ(m.flush(), "</");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, EmptyStopIsRejected) {
  try {
    StopMatcher m({"ok", ""});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "stop[1] must not be empty");
  }
}

// Longest tail of `text` that is a proper prefix of some stop: what must be held back.
size_t partial(const std::string& text, const std::vector<std::string>& stops) {
  size_t best = 0;
  for (const std::string& s : stops) {
    for (size_t len = 1; len < s.size() && len <= text.size(); ++len) {
      if (text.compare(text.size() - len, len, s, 0, len) == 0) best = std::max(best, len);
    }
  }
  return best;
}

// Random text over a tiny alphabet (so stops occur and overlap often), random stops, random
// piece boundaries: the output must be the text up to the first stop, and after every feed
// exactly the minimal tail is held back.
TEST(StopMatcher, RandomisedAgainstAReference) {
  std::mt19937 rng(123);
  auto rand_string = [&](size_t min_len, size_t max_len) {
    std::string s(min_len + rng() % (max_len - min_len + 1), 'a');
    for (char& c : s) c = static_cast<char>('a' + rng() % 3);
    return s;
  };
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<std::string> stops;
    for (size_t i = 0, n = 1 + rng() % 3; i < n; ++i) stops.push_back(rand_string(1, 5));
    const std::string text = rand_string(0, 30);

    // Byte-at-a-time semantics: the stop that completes first, the longer one on a tie.
    size_t first = std::string::npos;
    size_t first_end = std::string::npos;
    for (const std::string& s : stops) {
      const size_t pos = text.find(s);
      if (pos == std::string::npos) continue;
      if (pos + s.size() < first_end || (pos + s.size() == first_end && pos < first)) {
        first = pos;
        first_end = pos + s.size();
      }
    }
    const std::string want = first == std::string::npos ? text : text.substr(0, first);

    StopMatcher m(stops);
    std::string out;
    bool stopped = false;
    for (size_t pos = 0; pos < text.size() && !stopped;) {
      const size_t len = std::min(text.size() - pos, size_t{1} + rng() % 4);
      const StopMatcher::Result r = m.feed(std::string_view(text).substr(pos, len));
      pos += len;
      out += r.emit;
      stopped = r.stopped;
      if (!stopped) {
        const std::string so_far = text.substr(0, pos);
        ASSERT_EQ(out, so_far.substr(0, so_far.size() - partial(so_far, stops)))
            << "trial " << trial << " text " << text;
      }
    }
    if (!stopped) out += m.flush();
    ASSERT_EQ(stopped, first != std::string::npos) << "trial " << trial << " text " << text;
    ASSERT_EQ(out, want) << "trial " << trial << " text " << text;
  }
}

}  // namespace
}  // namespace dsx
