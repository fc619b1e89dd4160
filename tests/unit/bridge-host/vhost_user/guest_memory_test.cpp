#include "bridge-host/vhost-user/guest_memory.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "sim_guest.h"

namespace bridge::vhost_user {
namespace {

UniqueFd memfd(uint64_t size) {
  UniqueFd fd(::memfd_create("gm-test", MFD_CLOEXEC));
  EXPECT_TRUE(fd.valid());
  EXPECT_EQ(::ftruncate(fd.get(), static_cast<off_t>(size)), 0);
  return fd;
}

Result<GuestMemory> map_one(MemoryRegionDesc r, uint64_t file_size) {
  std::vector<UniqueFd> fds;
  fds.push_back(memfd(file_size));
  return GuestMemory::map(std::span(&r, 1), std::move(fds));
}

TEST(GuestMemory, TranslatesBothAddressSpacesToTheSameBytes) {
  test::SimRam ram(64 * 1024);
  GuestMemory m = ram.device_memory();
  std::memcpy(ram.at(test::SimRam::kGpaBase + 100), "hello", 5);
  auto by_gpa = m.translate_gpa(test::SimRam::kGpaBase + 100, 5);
  auto by_uva = m.translate_uva(test::SimRam::kUvaBase + 100, 5);
  ASSERT_TRUE(by_gpa.ok());
  ASSERT_TRUE(by_uva.ok());
  EXPECT_EQ(*by_gpa, *by_uva);
  EXPECT_EQ(std::memcmp(*by_gpa, "hello", 5), 0);
}

TEST(GuestMemory, BoundsAreExactAtEveryEdge) {
  const uint64_t base = 0x10000, size = 0x4000;
  auto m = map_one({base, size, 0x7000000, 0}, size);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->translate_gpa(base, size).ok());             // the whole region
  EXPECT_TRUE(m->translate_gpa(base + size - 1, 1).ok());     // last byte
  EXPECT_TRUE(m->translate_gpa(base + size - 1, 0).ok());     // empty range, inside
  EXPECT_FALSE(m->translate_gpa(base + size, 0).ok());        // empty range, one past
  EXPECT_FALSE(m->translate_gpa(base + size - 1, 2).ok());    // one byte past the end
  EXPECT_FALSE(m->translate_gpa(base, size + 1).ok());        // one too long
  EXPECT_FALSE(m->translate_gpa(base - 1, 1).ok());           // one below
  EXPECT_FALSE(m->translate_gpa(base - 1, 2).ok());           // straddles the start
  EXPECT_FALSE(m->translate_gpa(base + 1, UINT64_MAX).ok());  // addr + len overflows
  EXPECT_FALSE(m->translate_gpa(UINT64_MAX, 1).ok());
  EXPECT_FALSE(m->translate_gpa(UINT64_MAX, UINT64_MAX).ok());
  EXPECT_FALSE(m->translate_gpa(0, 0).ok());
  EXPECT_EQ(m->translate_gpa(base + size, 1).code(), EFAULT);
  EXPECT_TRUE(m->translate_uva(0x7000000 + size - 8, 8).ok());
  EXPECT_FALSE(m->translate_uva(0x7000000 + size - 8, 9).ok());
  EXPECT_FALSE(m->translate_uva(base, 1).ok());  // a gpa is not a uva
}

TEST(GuestMemory, NoRangeSpansTwoRegions) {
  // Two adjacent regions (like RAM split at a hole): a range across the seam is refused.
  MemoryRegionDesc r[2] = {{0x0, 0x2000, 0x100000, 0}, {0x2000, 0x2000, 0x200000, 0}};
  std::vector<UniqueFd> fds;
  fds.push_back(memfd(0x2000));
  fds.push_back(memfd(0x2000));
  auto m = GuestMemory::map(r, std::move(fds));
  ASSERT_TRUE(m.ok()) << m.error().context;
  EXPECT_EQ(m->region_count(), 2u);
  EXPECT_TRUE(m->translate_gpa(0x1ff0, 0x10).ok());
  EXPECT_TRUE(m->translate_gpa(0x2000, 0x10).ok());
  EXPECT_FALSE(m->translate_gpa(0x1ff0, 0x11).ok());
  EXPECT_NE(*m->translate_gpa(0x1fff, 1) + 1, *m->translate_gpa(0x2000, 1));
}

TEST(GuestMemory, MmapOffsetSelectsThePartOfTheFd) {
  UniqueFd fd = memfd(0x3000);
  ASSERT_EQ(::pwrite(fd.get(), "X", 1, 0x1234), 1);
  MemoryRegionDesc r{0x0, 0x1000, 0x9000, 0x1234 - 0x34};  // offset not page-aligned is fine
  std::vector<UniqueFd> fds;
  fds.push_back(std::move(fd));
  auto m = GuestMemory::map(std::span(&r, 1), std::move(fds));
  ASSERT_TRUE(m.ok()) << m.error().context;
  EXPECT_EQ(**m->translate_gpa(0x34, 1), 'X');
}

TEST(GuestMemory, BadTablesAreRefused) {
  EXPECT_FALSE(map_one({0, 0, 0, 0}, 4096).ok());                   // empty region
  EXPECT_FALSE(map_one({UINT64_MAX - 10, 4096, 0, 0}, 4096).ok());  // gpa overflows
  EXPECT_FALSE(map_one({0, 4096, UINT64_MAX, 0}, 4096).ok());       // uva overflows
  EXPECT_FALSE(map_one({0, 4096, 0, UINT64_MAX - 1}, 4096).ok());   // offset overflows
  EXPECT_EQ(map_one({0, 8192, 0, 0}, 4096).code(), EINVAL);         // fd smaller (SIGBUS)
  EXPECT_FALSE(map_one({0, 4096, 0, 4096}, 4096).ok());             // offset past the fd

  MemoryRegionDesc overlap[2] = {{0, 0x2000, 0x10000, 0}, {0x1000, 0x2000, 0x20000, 0}};
  std::vector<UniqueFd> fds;
  fds.push_back(memfd(0x2000));
  fds.push_back(memfd(0x2000));
  EXPECT_FALSE(GuestMemory::map(overlap, std::move(fds)).ok());

  MemoryRegionDesc uva_overlap[2] = {{0, 0x2000, 0x10000, 0}, {0x8000, 0x2000, 0x11000, 0}};
  fds.clear();
  fds.push_back(memfd(0x2000));
  fds.push_back(memfd(0x2000));
  EXPECT_FALSE(GuestMemory::map(uva_overlap, std::move(fds)).ok());

  MemoryRegionDesc one{0, 4096, 0, 0};
  EXPECT_FALSE(GuestMemory::map(std::span(&one, 1), {}).ok());  // fd missing

  std::vector<MemoryRegionDesc> nine;
  fds.clear();
  for (uint64_t i = 0; i < 9; ++i) {
    nine.push_back({i * 0x1000, 0x1000, 0x100000 + i * 0x1000, 0});
    fds.push_back(memfd(0x1000));
  }
  EXPECT_FALSE(GuestMemory::map(nine, std::move(fds)).ok());
}

TEST(GuestMemory, EmptyMemoryTranslatesNothing) {
  GuestMemory m;
  EXPECT_FALSE(m.translate_gpa(0, 0).ok());
  EXPECT_FALSE(m.translate_uva(0x1000, 1).ok());
}

TEST(Mapping, MovesOwnershipAndUnmapsOnce) {
  UniqueFd fd = memfd(4096);
  auto a = Mapping::map_shared(fd.get(), 4096);
  ASSERT_TRUE(a.ok());
  Mapping b = std::move(*a);
  EXPECT_EQ(a->data(), nullptr);
  b.data()[0] = 1;
  Mapping c;
  c = std::move(b);
  EXPECT_EQ(c.data()[0], 1);
  EXPECT_FALSE(Mapping::map_shared(fd.get(), 0).ok());
}

}  // namespace
}  // namespace bridge::vhost_user
