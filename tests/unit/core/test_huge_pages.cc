// HugePages: zeroed, 2 MiB aligned, writable memory that moves like a unique owner.
#include <gtest/gtest.h>

#include <cstdint>
#include <utility>

#include "core/core.h"

namespace dsx {
namespace {

constexpr uintptr_t kHugePage = uintptr_t{2} << 20;

TEST(HugePages, IsZeroedAlignedAndWritable) {
  const size_t bytes = (size_t{3} << 20) + 123;  // not a whole number of huge pages
  HugePages pages(bytes);
  ASSERT_NE(pages.data(), nullptr);
  EXPECT_EQ(pages.size(), bytes);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(pages.data()) % kHugePage, 0u);
  for (size_t i = 0; i < bytes; i += 4093) EXPECT_EQ(pages.data()[i], 0) << i;
  EXPECT_EQ(pages.data()[bytes - 1], 0);
  pages.data()[0] = 1;
  pages.data()[bytes - 1] = 2;
  EXPECT_EQ(pages.as<uint8_t>()[bytes - 1], 2);
  pages.as<float>()[1] = 1.5f;
  EXPECT_EQ(reinterpret_cast<const float*>(pages.data())[1], 1.5f);
}

TEST(HugePages, ReadOnlyKeepsTheBytes) {
  HugePages pages(5000);
  pages.data()[4999] = 9;
  pages.make_read_only();
  EXPECT_EQ(pages.data()[4999], 9);
  HugePages none;
  none.make_read_only();  // nothing to protect
  EXPECT_EQ(none.data(), nullptr);
}

TEST(HugePages, EmptyHoldsNothing) {
  HugePages none;
  EXPECT_EQ(none.data(), nullptr);
  EXPECT_EQ(none.size(), 0u);
  HugePages zero(0);
  EXPECT_EQ(zero.data(), nullptr);
  EXPECT_EQ(zero.size(), 0u);
}

TEST(HugePages, MovesOwnership) {
  HugePages a(1000);
  a.data()[999] = 7;
  uint8_t* where = a.data();
  HugePages b(std::move(a));
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.data(), where);
  EXPECT_EQ(b.data()[999], 7);
  HugePages c(10);
  c = std::move(b);  // releases c's own pages
  EXPECT_EQ(c.data(), where);
  EXPECT_EQ(c.size(), 1000u);
  c = HugePages();
  EXPECT_EQ(c.data(), nullptr);
}

TEST(HugePages, ImpossibleSizeIsAnError) {
  EXPECT_THROW(HugePages(~size_t{0} / 2), Error);
  EXPECT_THROW(HugePages(~size_t{0}), Error);  // rounding up to a huge page would wrap
}

}  // namespace
}  // namespace dsx
