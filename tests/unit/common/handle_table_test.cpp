#include "common/handle_table.h"

#include <gtest/gtest.h>

namespace bridge {
namespace {

TEST(HandleTable, FindsWhatItHolds) {
  HandleTable<int> table(0x1234);
  auto h = table.insert(std::make_shared<int>(7));
  ASSERT_TRUE(h.ok());
  ASSERT_NE(table.find(*h), nullptr);
  EXPECT_EQ(*table.find(*h), 7);
  EXPECT_EQ(table.size(), 1u);
}

TEST(HandleTable, ClosedHandlesNeverComeBack) {
  HandleTable<int> table(1);
  auto first = *table.insert(std::make_shared<int>(1));
  ASSERT_NE(table.remove(first), nullptr);
  auto second = *table.insert(std::make_shared<int>(2));
  EXPECT_EQ(static_cast<uint32_t>(first), static_cast<uint32_t>(second));  // slot reused
  EXPECT_NE(first, second);                                                // generation differs
  EXPECT_EQ(table.find(first), nullptr);
  EXPECT_EQ(table.remove(first), nullptr);
  EXPECT_EQ(*table.find(second), 2);
}

TEST(HandleTable, HandlesFromAnotherBootAreRefused) {
  HandleTable<int> before(1), after(2);
  auto h = *before.insert(std::make_shared<int>(1));
  (void)after.insert(std::make_shared<int>(1));
  EXPECT_EQ(after.find(h), nullptr);
}

TEST(HandleTable, ArbitraryValuesAreRefused) {
  HandleTable<int> table(9);
  (void)table.insert(std::make_shared<int>(1));
  for (uint64_t v : {0ull, ~0ull, 0x0009000000000000ull, 0x0009000100000005ull}) {
    EXPECT_EQ(table.find(v), nullptr) << v;
  }
}

TEST(HandleTable, CapacityIsBounded) {
  HandleTable<int> table(1, 4);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(table.insert(std::make_shared<int>(i)).ok());
  EXPECT_EQ(table.insert(std::make_shared<int>(5)).code(), EMFILE);
}

TEST(HandleTable, ClearDropsEverything) {
  HandleTable<int> table(1);
  auto a = *table.insert(std::make_shared<int>(1));
  auto b = *table.insert(std::make_shared<int>(2));
  EXPECT_EQ(table.clear().size(), 2u);
  EXPECT_EQ(table.find(a), nullptr);
  EXPECT_EQ(table.find(b), nullptr);
  EXPECT_EQ(table.size(), 0u);
}

}  // namespace
}  // namespace bridge
