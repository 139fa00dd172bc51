// The paged latent cache: block accounting, entries that never overlap, zeroed fresh memory, and
// geometries it refuses with a one-line error.
#include <gtest/gtest.h>

#include <set>

#include "kv/kv.h"

namespace dsx {
namespace {

// 3 layers, entries of 4 + 2 floats, 5 blocks of 4 positions, at most 12 positions a sequence.
LatentCache small_cache() {
  return LatentCache(3, 4, 2, 5, 4, 12);
}

TEST(LatentCache, ReservesWholeBlocksAndGivesThemBack) {
  LatentCache cache = small_cache();
  EXPECT_EQ(cache.num_blocks(), 5);
  EXPECT_EQ(cache.bytes_per_token(), 3 * 6 * 4);
  const int32_t a = cache.add_sequence(), b = cache.add_sequence();
  EXPECT_TRUE(cache.reserve(a, 9));  // 3 blocks
  EXPECT_EQ(cache.capacity(a), 12);
  EXPECT_EQ(cache.free_blocks(), 2);
  EXPECT_FALSE(cache.reserve(b, 12));  // needs 3, 2 are free: nothing taken
  EXPECT_EQ(cache.free_blocks(), 2);
  EXPECT_TRUE(cache.reserve(b, 8));
  EXPECT_EQ(cache.free_blocks(), 0);
  cache.truncate(a, 4);
  EXPECT_EQ(cache.capacity(a), 4);
  EXPECT_EQ(cache.free_blocks(), 2);
  cache.remove_sequence(b);
  EXPECT_FALSE(cache.has_sequence(b));
  EXPECT_EQ(cache.free_blocks(), 4);
  EXPECT_EQ(cache.used_blocks(), 1);
  EXPECT_THROW(cache.reserve(a, 13), Error);  // past max_positions
  EXPECT_THROW(cache.reserve(99, 1), Error);
}

// Fresh entries read as zero, and every (layer, seq, pos) has its own floats: writing each entry's
// index into it and reading all back finds each one intact.
TEST(LatentCache, EntriesAreZeroedAndDisjoint) {
  LatentCache cache = small_cache();
  const int32_t a = cache.add_sequence(), b = cache.add_sequence();
  ASSERT_TRUE(cache.reserve(a, 10));
  ASSERT_TRUE(cache.reserve(b, 7));
  std::set<const float*> seen;
  float tag = 1.0f;
  for (int32_t seq : {a, b})
    for (int64_t layer = 0; layer < 3; ++layer)
      for (int64_t pos = 0; pos < cache.capacity(seq); ++pos) {
        float* e = cache.entry(layer, seq, pos);
        EXPECT_TRUE(seen.insert(e).second);
        for (int i = 0; i < 6; ++i) {
          EXPECT_EQ(e[i], 0.0f);
          e[i] = tag;
        }
        tag += 1.0f;
      }
  tag = 1.0f;
  for (int32_t seq : {a, b})
    for (int64_t layer = 0; layer < 3; ++layer)
      for (int64_t pos = 0; pos < cache.capacity(seq); ++pos, tag += 1.0f)
        for (int i = 0; i < 6; ++i) ASSERT_EQ(cache.entry(layer, seq, pos)[i], tag);
}

// A cache can be moved (the engine builds one and hands it over) and keeps its contents.
TEST(LatentCache, MovesWithItsContents) {
  LatentCache cache = small_cache();
  const int32_t a = cache.add_sequence();
  ASSERT_TRUE(cache.reserve(a, 1));
  cache.entry(2, a, 0)[5] = 7.0f;
  LatentCache moved = std::move(cache);
  EXPECT_EQ(moved.entry(2, a, 0)[5], 7.0f);
}

TEST(LatentCache, RefusesImpossibleGeometries) {
  EXPECT_THROW(LatentCache(0, 4, 2, 5, 4, 12), Error);
  EXPECT_THROW(LatentCache(3, 4, 2, 0, 4, 12), Error);
  EXPECT_THROW(LatentCache(3, 4, 2, 5, 0, 12), Error);
  // More blocks than int32 ids, and a byte count that would wrap: errors, not crashes.
  EXPECT_THROW(LatentCache(3, 4, 2, int64_t{1} << 40, 4, 12), Error);
  EXPECT_THROW(LatentCache(int64_t{1} << 40, 512, 64, int64_t{1} << 30, 1 << 20, 12), Error);
  try {
    LatentCache(27, 512, 64, int64_t{1} << 30, 64, 12);  // 2^30 blocks: ~4 PB, no such memory
    ADD_FAILURE() << "an impossible cache was allocated";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("kv cache"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace dsx
