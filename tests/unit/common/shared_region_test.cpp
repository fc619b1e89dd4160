#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>
#include <limits>
#include <vector>

#include "common/region_allocator.h"
#include "common/shared_region.h"

namespace bridge {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

TEST(SharedRegion, MemfdIsSharedBetweenTwoMappings) {
  auto host = SharedRegion::create_memfd(1 << 20, "test-region");
  ASSERT_TRUE(host.ok()) << host.error().context;
  EXPECT_EQ(host->size(), 1u << 20);
  // The guest side in local mode maps the same memfd through its own descriptor.
  auto guest = SharedRegion::map_fd(UniqueFd(::dup(host->fd())), "guest view");
  ASSERT_TRUE(guest.ok()) << guest.error().context;
  auto w = host->slice(4096, 5);
  ASSERT_TRUE(w.ok());
  std::memcpy(w->data(), "hello", 5);
  auto r = guest->slice(4096, 5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::memcmp(r->data(), "hello", 5), 0);
}

TEST(SharedRegion, SliceRefusesEveryRangeOutside) {
  auto region = SharedRegion::create_memfd(8192, "bounds");
  ASSERT_TRUE(region.ok());
  EXPECT_TRUE(region->slice(0, 8192).ok());
  EXPECT_TRUE(region->slice(8192, 0).ok());
  EXPECT_TRUE(region->slice(100, 8092).ok());
  for (auto [offset, length] : std::vector<std::pair<uint64_t, uint64_t>>{{0, 8193},
                                                                          {8193, 0},
                                                                          {8192, 1},
                                                                          {1, kMax},
                                                                          {kMax, 1},
                                                                          {kMax, kMax},
                                                                          {4096, kMax - 100}}) {
    auto s = region->slice(offset, length);
    ASSERT_FALSE(s.ok()) << offset << "+" << length;
    EXPECT_EQ(s.code(), EFAULT);
    EXPECT_NE(s.error().context.find("outside"), std::string::npos);
  }
}

TEST(SharedRegion, MissingFileNamesThePath) {
  auto region = SharedRegion::map_file("/nonexistent/resource2");
  ASSERT_FALSE(region.ok());
  EXPECT_EQ(region.code(), ENOENT);
  EXPECT_NE(region.error().context.find("/nonexistent/resource2"), std::string::npos);
}

TEST(SharedRegion, EmptyFileIsRefused) {
  int fd = ::memfd_create("empty", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto region = SharedRegion::map_fd(UniqueFd(fd), "empty memfd");
  ASSERT_FALSE(region.ok());
  EXPECT_EQ(region.code(), EINVAL);
}

TEST(RegionAllocator, RangesArePageAlignedAndDisjoint) {
  RegionAllocator alloc(1 << 20);
  auto a = alloc.allocate(1);
  auto b = alloc.allocate(4097);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->offset() % RegionAllocator::kPage, 0u);
  EXPECT_EQ(b->offset() % RegionAllocator::kPage, 0u);
  EXPECT_EQ(a->length(), 4096u);
  EXPECT_EQ(b->length(), 8192u);
  EXPECT_TRUE(a->offset() + a->length() <= b->offset() || b->offset() + b->length() <= a->offset());
  EXPECT_EQ(alloc.bytes_free(), (1u << 20) - 12288u);
}

TEST(RegionAllocator, FreedRangesCoalesceSoTheWholeRegionComesBack) {
  RegionAllocator alloc(16 * 4096);
  std::vector<RegionLease> leases;
  for (int i = 0; i < 16; ++i) {
    auto l = alloc.allocate(4096);
    ASSERT_TRUE(l.ok()) << i;
    leases.push_back(std::move(*l));
  }
  EXPECT_EQ(alloc.allocate(1).code(), ENOSPC);
  // Free in an interleaved order: every neighbour case of the coalescing is hit.
  for (int i : {1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 14}) leases[i].release();
  EXPECT_EQ(alloc.bytes_free(), 16u * 4096);
  auto all = alloc.allocate(16 * 4096);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->offset(), 0u);
}

TEST(RegionAllocator, ImpossibleSizesAreRefusedWithContext) {
  RegionAllocator alloc(1 << 20);
  for (uint64_t length : {uint64_t{0}, uint64_t{(1 << 20) + 1}, kMax}) {
    auto l = alloc.allocate(length);
    ASSERT_FALSE(l.ok()) << length;
    EXPECT_EQ(l.code(), ENOSPC);
    EXPECT_FALSE(l.error().context.empty());
  }
}

TEST(RegionAllocator, LeaseOutlivesAllocatorAndCoversOnlyItsRange) {
  RegionLease lease;
  {
    RegionAllocator alloc(1 << 16);
    auto l = alloc.allocate(8192);
    ASSERT_TRUE(l.ok());
    lease = std::move(*l);
  }
  EXPECT_TRUE(lease.covers(lease.offset(), 8192));
  EXPECT_TRUE(lease.covers(lease.offset() + 4096, 4096));
  EXPECT_FALSE(lease.covers(lease.offset() + 4096, 4097));
  EXPECT_FALSE(lease.covers(lease.offset() + 1, kMax));
  EXPECT_FALSE(lease.covers(kMax, 1));
  lease.release();  // the pool is gone with the allocator's last reference: must not crash
  EXPECT_FALSE(lease.valid());
}

}  // namespace
}  // namespace bridge
