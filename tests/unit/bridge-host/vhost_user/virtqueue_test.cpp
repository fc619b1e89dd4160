#include "bridge-host/vhost-user/virtqueue.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "bridge-host/vhost-user/le.h"
#include "sim_guest.h"

namespace bridge::vhost_user {
namespace {

using test::SimQueue;
using test::SimRam;

class VirtqueueTest : public ::testing::Test {
 protected:
  SimRam ram{1 << 20};
  GuestMemory memory = ram.device_memory();
  SimQueue sim{ram, 8};
  Virtqueue vq;
  void SetUp() override { sim.attach(vq); }

  uint64_t buffer(const std::string& text) {
    const uint64_t gpa = ram.alloc(text.size() ? text.size() : 1);
    std::memcpy(ram.at(gpa), text.data(), text.size());
    return gpa;
  }
  DescriptorChain pop_ok() {
    auto r = vq.pop(memory);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().context);
    EXPECT_TRUE(r.ok() && r->has_value());
    return r.ok() && r->has_value() ? std::move(**r) : DescriptorChain{};
  }
  void expect_broken() {
    auto r = vq.pop(memory);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.code(), EIO);
    EXPECT_TRUE(vq.broken());
    EXPECT_FALSE(vq.pop(memory).ok());  // sticky
  }
};

TEST_F(VirtqueueTest, EmptyQueuePopsNothing) {
  auto r = vq.pop(memory);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
}

TEST_F(VirtqueueTest, GathersHeaderAndPayloadSplitAcrossDescriptors) {
  // Linux 6.1 puts the vsock header and the payload in separate descriptors.
  const uint64_t a = buffer("head"), b = buffer("er+pay"), c = buffer("load");
  const uint64_t w1 = ram.alloc(3), w2 = ram.alloc(10);
  const uint16_t head =
      sim.add_chain({{a, 4, false}, {b, 6, false}, {c, 4, false}, {w1, 3, true}, {w2, 10, true}});
  DescriptorChain chain = pop_ok();
  EXPECT_EQ(chain.head, head);
  EXPECT_EQ(chain.readable.size(), 3u);
  EXPECT_EQ(chain.writable.size(), 2u);
  EXPECT_EQ(chain.readable_bytes, 14u);
  EXPECT_EQ(chain.writable_bytes, 13u);

  std::string all(14, '\0');
  EXPECT_EQ(gather(chain, 0, std::span(reinterpret_cast<uint8_t*>(all.data()), all.size())), 14u);
  EXPECT_EQ(all, "header+payload");
  std::string tail(20, '\0');
  EXPECT_EQ(gather(chain, 6, std::span(reinterpret_cast<uint8_t*>(tail.data()), tail.size())), 8u);
  EXPECT_EQ(tail.substr(0, 8), "+payload");

  const std::string out = "0123456789ABCDEF";
  EXPECT_EQ(scatter(chain, 1, std::span(reinterpret_cast<const uint8_t*>(out.data()), out.size())),
            12u);  // 13 writable bytes, from offset 1
  EXPECT_EQ(std::string(reinterpret_cast<char*>(ram.at(w1)) + 1, 2), "01");
  EXPECT_EQ(std::string(reinterpret_cast<char*>(ram.at(w2)), 10), "23456789AB");

  ASSERT_TRUE(vq.push(memory, chain.head, 12).ok());
  auto used = sim.take_used();
  ASSERT_EQ(used.size(), 1u);
  EXPECT_EQ(used[0], (std::pair<uint32_t, uint32_t>(head, 12)));
  EXPECT_EQ(vq.base(), 1);
}

TEST_F(VirtqueueTest, ManyChainsWrapTheRings) {
  for (int i = 0; i < 40; ++i) {  // 5 times around an 8-entry ring; 16-bit indices keep going
    const uint64_t w = ram.alloc(4);
    sim.add_chain({{buffer("abcd"), 4, false}, {w, 4, true}});
    DescriptorChain c = pop_ok();
    ASSERT_TRUE(vq.push(memory, c.head, 4).ok());
    ASSERT_EQ(sim.take_used().size(), 1u);
  }
  EXPECT_EQ(vq.base(), 40);
}

TEST_F(VirtqueueTest, LoopIsCaught) {
  const uint64_t a = buffer("x");
  sim.set_desc(0, a, 1, kDescNext, 1);
  sim.set_desc(1, a, 1, kDescNext, 0);  // 0 -> 1 -> 0 -> ...
  sim.publish(0);
  expect_broken();
}

TEST_F(VirtqueueTest, SelfLoopIsCaught) {
  sim.set_desc(3, buffer("x"), 1, kDescNext, 3);
  sim.publish(3);
  expect_broken();
}

TEST_F(VirtqueueTest, LongestLegalChainIsAccepted) {
  for (uint16_t i = 0; i < 8; ++i) {
    sim.set_desc(i, buffer("y"), 1, i == 7 ? 0 : kDescNext, i + 1);
  }
  sim.publish(0);
  EXPECT_EQ(pop_ok().readable.size(), 8u);
}

TEST_F(VirtqueueTest, NextOutOfRangeIsCaught) {
  sim.set_desc(0, buffer("x"), 1, kDescNext, 8);  // num is 8: index 8 is one past
  sim.publish(0);
  expect_broken();
}

TEST_F(VirtqueueTest, HeadOutOfRangeIsCaught) {
  sim.publish(8);
  expect_broken();
}

TEST_F(VirtqueueTest, BufferOutsideGuestMemoryIsCaught) {
  sim.set_desc(0, SimRam::kGpaBase + ram.size() - 4, 5, 0, 0);  // one byte past the end
  sim.publish(0);
  expect_broken();
}

TEST_F(VirtqueueTest, BufferWithOverflowingAddressIsCaught) {
  sim.set_desc(0, UINT64_MAX - 2, 16, 0, 0);
  sim.publish(0);
  expect_broken();
}

TEST_F(VirtqueueTest, BufferAtTheVeryEndIsFine) {
  sim.set_desc(0, SimRam::kGpaBase + ram.size() - 4, 4, 0, 0);
  sim.publish(0);
  EXPECT_EQ(pop_ok().readable_bytes, 4u);
}

TEST_F(VirtqueueTest, ReadableAfterWritableIsCaught) {
  sim.add_chain({{ram.alloc(4), 4, true}, {buffer("late"), 4, false}});
  expect_broken();
}

TEST_F(VirtqueueTest, DriverClaimingMoreThanTheRingIsCaught) {
  sim.set_avail_idx(9);  // 9 new entries in an 8-entry ring
  expect_broken();
}

TEST_F(VirtqueueTest, SetUpAgainClearsBroken) {
  sim.publish(8);
  expect_broken();
  SimQueue fresh(ram, 8);
  fresh.attach(vq);
  EXPECT_FALSE(vq.broken());
  auto r = vq.pop(memory);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
}

class IndirectTest : public VirtqueueTest {
 protected:
  // Writes an indirect table of `n` entries at a fresh gpa; entry i: buffer of 2 bytes,
  // linked to i+1, the last `writable` ones device-writable.
  uint64_t table(uint16_t n, uint16_t writable) {
    const uint64_t t = ram.alloc(16ull * n, 16);
    for (uint16_t i = 0; i < n; ++i) {
      uint8_t* d = ram.at(t + 16ull * i);
      const bool w = i >= n - writable;
      store_le<uint64_t>(d, w ? ram.alloc(2) : buffer("ab"));
      store_le<uint32_t>(d + 8, 2);
      store_le<uint16_t>(d + 12, (w ? kDescWrite : 0) | (i + 1 < n ? kDescNext : 0));
      store_le<uint16_t>(d + 14, i + 1);
    }
    return t;
  }
};

TEST_F(IndirectTest, TableIsWalked) {
  const uint64_t t = table(20, 5);  // longer than the 8-entry ring: allowed for indirect
  sim.set_desc(2, t, 20 * 16, kDescIndirect, 0);
  sim.publish(2);
  DescriptorChain c = pop_ok();
  EXPECT_EQ(c.head, 2);
  EXPECT_EQ(c.readable.size(), 15u);
  EXPECT_EQ(c.writable.size(), 5u);
}

TEST_F(IndirectTest, BadTableSizesAreCaught) {
  const uint64_t t = table(4, 0);
  sim.set_desc(0, t, 4 * 16 - 1, kDescIndirect, 0);  // not a multiple of 16
  sim.publish(0);
  expect_broken();
}

TEST_F(IndirectTest, EmptyTableIsCaught) {
  sim.set_desc(0, table(1, 0), 0, kDescIndirect, 0);
  sim.publish(0);
  expect_broken();
}

TEST_F(IndirectTest, HugeTableIsCaught) {
  sim.set_desc(0, SimRam::kGpaBase, (Virtqueue::kMaxIndirect + 1) * 16, kDescIndirect, 0);
  sim.publish(0);
  expect_broken();
}

TEST_F(IndirectTest, TableOutsideMemoryIsCaught) {
  sim.set_desc(0, SimRam::kGpaBase + ram.size() - 16, 32, kDescIndirect, 0);
  sim.publish(0);
  expect_broken();
}

TEST_F(IndirectTest, NestedTableIsCaught) {
  const uint64_t inner = table(2, 0);
  const uint64_t outer = ram.alloc(16, 16);
  uint8_t* d = ram.at(outer);
  store_le<uint64_t>(d, inner);
  store_le<uint32_t>(d + 8, 32);
  store_le<uint16_t>(d + 12, kDescIndirect);
  sim.set_desc(0, outer, 16, kDescIndirect, 0);
  sim.publish(0);
  expect_broken();
}

TEST_F(IndirectTest, LoopInsideTableIsCaught) {
  const uint64_t t = table(3, 0);
  store_le<uint16_t>(ram.at(t + 16 * 2 + 12), kDescNext);  // last entry links back...
  store_le<uint16_t>(ram.at(t + 16 * 2 + 14), 0);          // ...to the first
  sim.set_desc(0, t, 48, kDescIndirect, 0);
  sim.publish(0);
  expect_broken();
}

TEST_F(IndirectTest, IndirectAfterDirectIsCaught) {
  sim.set_desc(0, buffer("x"), 1, kDescNext, 1);
  sim.set_desc(1, table(2, 0), 32, kDescIndirect, 0);
  sim.publish(0);
  expect_broken();
}

TEST_F(VirtqueueTest, RingsOutsideMemoryFail) {
  Virtqueue q;
  ASSERT_TRUE(q.set_size(8).ok());
  ASSERT_TRUE(q.set_addresses(
                   {SimRam::kUvaBase + ram.size() - 64, SimRam::kUvaBase, SimRam::kUvaBase + 0x100})
                  .ok());
  EXPECT_EQ(q.pop(memory).code(), EFAULT);
  EXPECT_TRUE(q.broken());
}

TEST(Virtqueue, SetUpIsValidated) {
  Virtqueue q;
  EXPECT_FALSE(q.set_size(0).ok());
  EXPECT_FALSE(q.set_size(6).ok());
  EXPECT_FALSE(q.set_size(65536).ok());
  EXPECT_FALSE(q.set_addresses({0x1000, 0x2000, 0x3000}).ok());  // size first
  ASSERT_TRUE(q.set_size(256).ok());
  EXPECT_FALSE(q.set_addresses({0x1008, 0x2000, 0x3000}).ok());  // desc 16-aligned
  EXPECT_FALSE(q.set_addresses({0x1000, 0x2001, 0x3000}).ok());  // avail 2-aligned
  EXPECT_FALSE(q.set_addresses({0x1000, 0x2000, 0x3002}).ok());  // used 4-aligned
  EXPECT_TRUE(q.set_addresses({0x1000, 0x2000, 0x3000}).ok());
  GuestMemory none;
  EXPECT_FALSE(q.pop(none).ok());
  Virtqueue unconfigured;
  EXPECT_EQ(unconfigured.pop(none).code(), ENODEV);
}

TEST_F(VirtqueueTest, NotificationHonoursNoInterrupt) {
  sim.add_chain({{buffer("a"), 1, false}});
  DescriptorChain c = pop_ok();
  ASSERT_TRUE(vq.push(memory, c.head, 0).ok());
  EXPECT_TRUE(*vq.needs_notify(memory));
  sim.set_avail_flags(kAvailNoInterrupt);
  EXPECT_FALSE(*vq.needs_notify(memory));
}

TEST(VirtqueueEventIdx, NotifiesOnlyWhenUsedEventIsCrossed) {
  SimRam ram;
  GuestMemory memory = ram.device_memory();
  SimQueue sim(ram, 8, /*event_idx=*/true);
  Virtqueue vq;
  sim.attach(vq);
  auto cycle = [&] {
    sim.add_chain({{ram.alloc(1), 1, false}});
    auto c = vq.pop(memory);
    ASSERT_TRUE(c.ok() && c->has_value());
    ASSERT_TRUE(vq.push(memory, (*c)->head, 0).ok());
  };
  cycle();
  EXPECT_EQ(sim.avail_event(), 1);        // we told the driver where we are
  EXPECT_TRUE(*vq.needs_notify(memory));  // first time: always
  sim.set_used_event(3);                  // driver: interrupt me when used idx passes 3
  cycle();                                // used idx 2
  EXPECT_FALSE(*vq.needs_notify(memory));
  cycle();  // 3
  EXPECT_FALSE(*vq.needs_notify(memory));
  cycle();  // 4: crossed 3
  EXPECT_TRUE(*vq.needs_notify(memory));
  cycle();  // 5
  EXPECT_FALSE(*vq.needs_notify(memory));
}

}  // namespace
}  // namespace bridge::vhost_user
