// VsockDevice against the SIMULATED guest driver (sim_guest.h): packets laid out the way Linux
// 6.1 does (header and payload in separate descriptors), through real Virtqueues and the mux.
#include "bridge-host/vhost-user/vsock_device.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "sim_guest.h"

namespace bridge::vhost_user {
namespace {

using test::SimQueue;
using test::SimRam;

// Guest-visible bytes as text and back. INVARIANT: char and uint8_t are both byte types, so
// these two reinterpret_casts only change how the same bytes are read.
std::span<const uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}
std::string text_at(const uint8_t* p, std::size_t n) {
  return std::string(reinterpret_cast<const char*>(p), n);
}

constexpr uint64_t kGuestCid = 3;
constexpr uint32_t kPort = 5151;
constexpr uint32_t kRxBit = 1u << VsockDevice::kRxQueue;
constexpr uint32_t kTxBit = 1u << VsockDevice::kTxQueue;

struct Sink : StreamSink {
  std::string data;
  uint32_t shutdown = 0;
  bool reset = false;
  void on_data(std::span<const uint8_t> b) override { data.append(b.begin(), b.end()); }
  void on_peer_shutdown(uint32_t flags) override { shutdown = flags; }
  void on_reset() override { reset = true; }
};

struct Handler : ConnectionHandler {
  std::shared_ptr<Sink> sink = std::make_shared<Sink>();
  ConnId last = 0;
  std::shared_ptr<StreamSink> on_accept(ConnId id, uint32_t, uint32_t) override {
    last = id;
    return sink;
  }
};

class VsockDeviceTest : public ::testing::Test {
 protected:
  SimRam ram{1 << 20};
  SimQueue rx{ram, 16};
  SimQueue tx{ram, 16};
  Handler handler;
  VsockDevice device{[] {
                       MuxConfig c;
                       c.guest_cid = kGuestCid;
                       return c;
                     }(),
                     handler};

  void SetUp() override {
    device.mux().listen(kPort);
    device.set_memory(ram.device_memory());
    rx.attach(*device.queue(VsockDevice::kRxQueue));
    tx.attach(*device.queue(VsockDevice::kTxQueue));
    device.queue(VsockDevice::kRxQueue)->set_enabled(true);
    device.queue(VsockDevice::kTxQueue)->set_enabled(true);
  }

  static VsockHeader header(VsockOp op, uint32_t len = 0) {
    VsockHeader h;
    h.src_cid = kGuestCid;
    h.dst_cid = kHostCid;
    h.src_port = 1234;
    h.dst_port = kPort;
    h.len = len;
    h.type = static_cast<uint16_t>(VsockType::stream);
    h.op = static_cast<uint16_t>(op);
    h.buf_alloc = 64 * 1024;
    return h;
  }
  // A TX packet as Linux 6.1 queues it: header descriptor, then payload descriptor.
  void send(const VsockHeader& h, const std::string& payload = {}) {
    const auto raw = serialize_vsock_header(h);
    const uint64_t hg = ram.alloc(raw.size());
    std::memcpy(ram.at(hg), raw.data(), raw.size());
    std::vector<SimQueue::Seg> segs{{hg, static_cast<uint32_t>(raw.size()), false}};
    if (!payload.empty()) {
      const uint64_t pg = ram.alloc(payload.size());
      std::memcpy(ram.at(pg), payload.data(), payload.size());
      segs.push_back({pg, static_cast<uint32_t>(payload.size()), false});
    }
    tx.add_chain(segs);
  }
  // An RX buffer as Linux 6.1 posts it: 44-byte header descriptor, then a payload descriptor.
  struct RxBuf {
    uint64_t hdr, data;
  };
  std::vector<RxBuf> posted;
  void post_rx(uint32_t payload = 4096) {
    RxBuf b{ram.alloc(kVsockHeaderSize), ram.alloc(payload)};
    rx.add_chain({{b.hdr, kVsockHeaderSize, true}, {b.data, payload, true}});
    posted.push_back(b);
  }
  // Packets the device returned on RX, in order.
  std::vector<std::pair<VsockHeader, std::string>> received() {
    std::vector<std::pair<VsockHeader, std::string>> out;
    for (auto [id, len] : rx.take_used()) {
      (void)id;
      const RxBuf b = posted.at(out.size() + consumed_);
      auto h = parse_vsock_header(std::span<const uint8_t>(ram.at(b.hdr), kVsockHeaderSize));
      EXPECT_TRUE(h.ok());
      EXPECT_EQ(len, kVsockHeaderSize + h->len);
      out.emplace_back(*h, text_at(ram.at(b.data), h->len));
    }
    consumed_ += out.size();
    return out;
  }
  std::size_t consumed_ = 0;
};

TEST_F(VsockDeviceTest, RequestGetsAResponseInRx) {
  post_rx();
  send(header(VsockOp::request));
  const uint32_t mask = device.on_tx_kick();
  EXPECT_EQ(mask, kRxBit | kTxBit);
  EXPECT_EQ(tx.take_used().size(), 1u);
  auto got = received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first.operation(), VsockOp::response);
  EXPECT_EQ(got[0].first.dst_cid, kGuestCid);
  EXPECT_EQ(got[0].first.dst_port, 1234u);
  EXPECT_EQ(device.mux().connection_count(), 1u);
}

TEST_F(VsockDeviceTest, DataBothWaysWithHeaderAndPayloadSplit) {
  post_rx();
  post_rx();
  send(header(VsockOp::request));
  send(header(VsockOp::rw, 5), "hello");
  device.on_tx_kick();
  EXPECT_EQ(handler.sink->data, "hello");
  ASSERT_EQ(received().size(), 1u);  // the RESPONSE

  ASSERT_TRUE(device.mux().send(handler.last, bytes_of("world!")).ok());
  EXPECT_EQ(device.fill_rx(), kRxBit);
  auto got = received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first.operation(), VsockOp::rw);
  EXPECT_EQ(got[0].second, "world!");
}

TEST_F(VsockDeviceTest, OutputWaitsForRxBuffers) {
  send(header(VsockOp::request));
  EXPECT_EQ(device.on_tx_kick(), kTxBit);  // nothing to fill RX with yet
  EXPECT_TRUE(device.mux().has_output());
  post_rx();
  EXPECT_EQ(device.fill_rx(), kRxBit);
  EXPECT_EQ(received().size(), 1u);
  EXPECT_EQ(device.fill_rx(), 0u);  // nothing more to say
}

TEST_F(VsockDeviceTest, LargePayloadIsSplitToTheRxBufferSize) {
  post_rx(100);
  send(header(VsockOp::request));
  device.on_tx_kick();
  received();
  const std::string big(250, 'x');
  ASSERT_TRUE(device.mux().send(handler.last, bytes_of(big)).ok());
  post_rx(100);
  post_rx(100);
  post_rx(100);
  device.fill_rx();
  auto got = received();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].second.size(), 100u);
  EXPECT_EQ(got[2].second.size(), 50u);
}

TEST_F(VsockDeviceTest, ShortTxChainIsReturnedAndIgnored) {
  const uint64_t g = ram.alloc(10);
  tx.add_chain({{g, 10, false}});
  EXPECT_EQ(device.on_tx_kick(), kTxBit);
  EXPECT_EQ(tx.take_used().size(), 1u);
  EXPECT_FALSE(device.queue(VsockDevice::kTxQueue)->broken());
  EXPECT_EQ(device.mux().connection_count(), 0u);
}

TEST_F(VsockDeviceTest, LenPastTheChainGetsAnRst) {
  post_rx();
  post_rx();
  send(header(VsockOp::request));
  send(header(VsockOp::rw, 1000), "only this");  // claims more than it carries
  device.on_tx_kick();
  // Both packets arrive in one kick, so the RESPONSE never goes out: the RST replaces it.
  auto got = received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first.operation(), VsockOp::rst);
  EXPECT_TRUE(handler.sink->reset);
  EXPECT_EQ(handler.sink->data, "");
}

TEST_F(VsockDeviceTest, BrokenTxQueueLeavesRxWorking) {
  post_rx();
  send(header(VsockOp::request));
  device.on_tx_kick();
  EXPECT_EQ(received().size(), 1u);
  // A descriptor pointing outside guest memory: the TX queue breaks, nothing else does.
  tx.set_desc(15, 0xdead0000000, 16, 0, 0);
  tx.publish(15);
  device.on_tx_kick();
  EXPECT_TRUE(device.queue(VsockDevice::kTxQueue)->broken());
  ASSERT_TRUE(device.mux().send(handler.last, bytes_of("ok")).ok());
  post_rx();
  device.fill_rx();
  auto got = received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].second, "ok");
}

TEST_F(VsockDeviceTest, DisabledQueueIsNotTouched) {
  device.queue(VsockDevice::kTxQueue)->set_enabled(false);
  send(header(VsockOp::request));
  EXPECT_EQ(device.on_tx_kick(), 0u);
  EXPECT_TRUE(tx.take_used().empty());
}

TEST_F(VsockDeviceTest, ResetEndsEveryConnection) {
  post_rx();
  send(header(VsockOp::request));
  device.on_tx_kick();
  ASSERT_EQ(device.mux().connection_count(), 1u);
  device.reset();
  EXPECT_TRUE(handler.sink->reset);
  EXPECT_EQ(device.mux().connection_count(), 0u);
  EXPECT_FALSE(device.queue(VsockDevice::kTxQueue)->configured());
}

}  // namespace
}  // namespace bridge::vhost_user
