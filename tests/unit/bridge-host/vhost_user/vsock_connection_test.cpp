#include "bridge-host/vhost-user/vsock_connection.h"

#include <gtest/gtest.h>

#include <vector>

namespace bridge::vhost_user {
namespace {

VsockConnection make(uint32_t buf_alloc = 1000, std::size_t max_tx = 10000) {
  return VsockConnection(1, 1024, 5151, buf_alloc, max_tx, nullptr);
}

TEST(Wrap32, WrapsByDesign) {
  Wrap32 a(0xfffffffe);
  a += 5;
  EXPECT_EQ(a.value(), 3u);
  EXPECT_EQ(a - Wrap32(0xfffffffe), 5u);
  EXPECT_EQ((Wrap32(1) + 0xffffffff).value(), 0u);
}

TEST(VsockConnection, PeerFreeIsWrappingArithmetic) {
  VsockConnection c = make();
  std::vector<uint8_t> data(100, 'x');
  c.update_peer_credit(64, 0);
  EXPECT_EQ(c.peer_free(), 64u);
  ASSERT_TRUE(c.enqueue(data).ok());
  std::vector<uint8_t> out;
  EXPECT_EQ(c.take(1000, out), 64u);  // credit-limited
  EXPECT_EQ(c.peer_free(), 0u);
  EXPECT_EQ(c.take(1000, out), 0u);
  c.update_peer_credit(64, 64);       // guest consumed it all
  EXPECT_EQ(c.take(10, out), 10u);    // max-limited
  EXPECT_EQ(c.take(1000, out), 26u);  // queue-limited
  EXPECT_EQ(out.size(), 100u);
  EXPECT_EQ(c.tx_cnt().value(), 100u);
  c.update_peer_credit(10, 50);  // guest shrank its buffer below what is in flight
  EXPECT_EQ(c.peer_free(), 0u);
  c.update_peer_credit(1000, 200);  // claims more consumed than sent: no credit, no wrap
  EXPECT_EQ(c.peer_free(), 0u);
}

TEST(VsockConnection, ReceiveEnforcesWhatWasAdvertised) {
  VsockConnection c = make(1000);
  EXPECT_TRUE(c.receive(600));
  EXPECT_TRUE(c.receive(400));
  EXPECT_FALSE(c.receive(1));  // buffer full
  ASSERT_TRUE(c.consume(500).ok());
  EXPECT_FALSE(c.receive(1));  // consumed but not yet advertised: the guest cannot know
  VsockHeader h;
  c.advertise(h);
  EXPECT_EQ(h.fwd_cnt, 500u);
  EXPECT_EQ(h.buf_alloc, 1000u);
  EXPECT_TRUE(c.receive(500));
  EXPECT_FALSE(c.receive(1));
  EXPECT_FALSE(c.consume(1001).ok());  // more than unconsumed (1000)
  EXPECT_TRUE(c.consume(1000).ok());
}

TEST(VsockConnection, CreditUpdateIsDueWhenTheGuestMayBeBlocked) {
  VsockConnection c = make(1000);  // threshold: half the buffer
  EXPECT_TRUE(c.receive(900));
  EXPECT_FALSE(c.credit_update_due());  // nothing consumed yet
  ASSERT_TRUE(c.consume(100).ok());
  EXPECT_TRUE(c.credit_update_due());  // guest sees 100 free < 500
  VsockHeader h;
  c.advertise(h);
  EXPECT_FALSE(c.credit_update_due());
}

TEST(VsockConnection, SendQueueIsBounded) {
  VsockConnection c = make(1000, 100);
  std::vector<uint8_t> data(60, 'x');
  EXPECT_TRUE(c.enqueue(data).ok());
  EXPECT_EQ(c.enqueue(data).code(), ENOBUFS);
  EXPECT_EQ(c.tx_pending(), 60u);
  EXPECT_TRUE(c.enqueue(std::span(data).first(40)).ok());
  c.drop_tx();
  EXPECT_EQ(c.tx_pending(), 0u);
}

}  // namespace
}  // namespace bridge::vhost_user
