#include "bridge-host/vhost-user/vsock_mux.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace bridge::vhost_user {
namespace {

constexpr uint64_t kGuestCid = 3;
constexpr uint32_t kPort = 5151;

// Records what each connection's sink hears. `on_data_hook` lets a test act from inside.
struct Record {
  std::string data;
  uint32_t shutdown = 0;
  bool reset = false;
};

class Sink : public StreamSink {
 public:
  Sink(Record& r, std::function<void()>& hook) : r_(r), hook_(hook) {}
  void on_data(std::span<const uint8_t> b) override {
    r_.data.append(b.begin(), b.end());
    if (hook_) hook_();
  }
  void on_peer_shutdown(uint32_t flags) override { r_.shutdown = flags; }
  void on_reset() override { r_.reset = true; }

 private:
  Record& r_;
  std::function<void()>& hook_;
};

class Handler : public ConnectionHandler {
 public:
  std::map<ConnId, Record> records;
  std::vector<ConnId> accepted;
  bool refuse = false;
  std::function<void()> on_data_hook;
  std::shared_ptr<StreamSink> on_accept(ConnId id, uint32_t, uint32_t) override {
    if (refuse) return nullptr;
    accepted.push_back(id);
    return std::make_shared<Sink>(records[id], on_data_hook);
  }
};

class MuxTest : public ::testing::Test {
 protected:
  Handler handler;
  MuxConfig config = [] {
    MuxConfig c;
    c.guest_cid = kGuestCid;
    c.buf_alloc = 1000;
    c.max_tx_queue = 100000;
    return c;
  }();
  std::unique_ptr<VsockMux> mux = make_mux();

  std::unique_ptr<VsockMux> make_mux() {
    auto m = std::make_unique<VsockMux>(config, handler);
    m->listen(kPort);
    return m;
  }

  // A packet as the (simulated) guest driver builds it.
  static VsockHeader from_guest(VsockOp op, uint32_t guest_port, uint32_t host_port = kPort,
                                uint32_t len = 0, uint32_t buf_alloc = 4096, uint32_t fwd_cnt = 0) {
    VsockHeader h;
    h.src_cid = kGuestCid;
    h.dst_cid = kHostCid;
    h.src_port = guest_port;
    h.dst_port = host_port;
    h.len = len;
    h.type = static_cast<uint16_t>(VsockType::stream);
    h.op = static_cast<uint16_t>(op);
    h.buf_alloc = buf_alloc;
    h.fwd_cnt = fwd_cnt;
    return h;
  }
  void guest_sends(VsockHeader h, const std::string& payload = {}) {
    h.len = static_cast<uint32_t>(payload.size());
    mux->on_packet(h, std::span(reinterpret_cast<const uint8_t*>(payload.data()), payload.size()));
  }
  std::vector<OutPacket> drain(uint32_t max_payload = 4096) {
    std::vector<OutPacket> out;
    while (auto p = mux->next_packet(max_payload)) out.push_back(std::move(*p));
    return out;
  }
  ConnId connect(uint32_t guest_port, uint32_t guest_buf = 4096) {
    guest_sends(from_guest(VsockOp::request, guest_port, kPort, 0, guest_buf));
    auto out = drain();
    EXPECT_EQ(out.size(), 1u);
    EXPECT_EQ(out.at(0).header.operation(), VsockOp::response);
    return handler.accepted.back();
  }
  static std::string text(const OutPacket& p) {
    return std::string(p.payload.begin(), p.payload.end());
  }
  static std::span<const uint8_t> bytes(const std::string& s) {
    return std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
};

TEST_F(MuxTest, RequestToListeningPortGetsResponse) {
  guest_sends(from_guest(VsockOp::request, 1234));
  ASSERT_EQ(handler.accepted.size(), 1u);
  auto out = drain();
  ASSERT_EQ(out.size(), 1u);
  const VsockHeader& h = out[0].header;
  EXPECT_EQ(h.operation(), VsockOp::response);
  EXPECT_EQ(h.src_cid, kHostCid);
  EXPECT_EQ(h.dst_cid, kGuestCid);
  EXPECT_EQ(h.src_port, kPort);
  EXPECT_EQ(h.dst_port, 1234u);
  EXPECT_EQ(h.type, static_cast<uint16_t>(VsockType::stream));
  EXPECT_EQ(h.buf_alloc, 1000u);
  EXPECT_EQ(h.fwd_cnt, 0u);
  EXPECT_EQ(mux->connection_count(), 1u);
}

TEST_F(MuxTest, RequestToAPortNobodyListensOnGetsRst) {
  guest_sends(from_guest(VsockOp::request, 1234, 9999));
  auto out = drain();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].header.operation(), VsockOp::rst);
  EXPECT_EQ(out[0].header.src_port, 9999u);
  EXPECT_EQ(out[0].header.dst_port, 1234u);
  EXPECT_TRUE(handler.accepted.empty());
  EXPECT_EQ(mux->connection_count(), 0u);
}

TEST_F(MuxTest, RefusedByTheLayerAboveGetsRst) {
  handler.refuse = true;
  guest_sends(from_guest(VsockOp::request, 1234));
  auto out = drain();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].header.operation(), VsockOp::rst);
  EXPECT_EQ(mux->connection_count(), 0u);
}

TEST_F(MuxTest, WrongSourceCidIsIgnoredEntirely) {
  VsockHeader h = from_guest(VsockOp::request, 1234);
  h.src_cid = 4;
  guest_sends(h);
  EXPECT_TRUE(handler.accepted.empty());
  EXPECT_FALSE(mux->has_output());
}

TEST_F(MuxTest, ConnectionLimitAnswersRst) {
  config.max_connections = 1;
  mux = make_mux();
  connect(1);
  guest_sends(from_guest(VsockOp::request, 2));
  auto out = drain();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].header.operation(), VsockOp::rst);
}

TEST_F(MuxTest, DataFlowsBothWays) {
  const ConnId id = connect(1234);
  guest_sends(from_guest(VsockOp::rw, 1234), "hello host");
  EXPECT_EQ(handler.records[id].data, "hello host");

  ASSERT_TRUE(mux->send(id, bytes("hello guest, this is long")).ok());
  auto out = drain(10);  // RX buffers with 10 bytes of payload room
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(text(out[0]) + text(out[1]) + text(out[2]), "hello guest, this is long");
  for (const auto& p : out) {
    EXPECT_EQ(p.header.operation(), VsockOp::rw);
    EXPECT_EQ(p.header.len, p.payload.size());
    EXPECT_EQ(p.header.dst_port, 1234u);
  }
  EXPECT_EQ(mux->find(id)->tx_cnt().value(), 25u);
}

TEST_F(MuxTest, SendingWaitsForGuestCredit) {
  const ConnId id = connect(1234, /*guest_buf=*/8);
  ASSERT_TRUE(mux->send(id, bytes("0123456789abcdef")).ok());
  auto out = drain();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(text(out[0]), "01234567");
  EXPECT_FALSE(mux->has_output());  // no credit: the rest waits
  guest_sends(from_guest(VsockOp::credit_update, 1234, kPort, 0, 8, 4));
  out = drain();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(text(out[0]), "89ab");
  guest_sends(from_guest(VsockOp::credit_update, 1234, kPort, 0, 8, 12));
  out = drain();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(text(out[0]), "cdef");
}

TEST_F(MuxTest, CreditRequestIsAnsweredWithOurCounters) {
  const ConnId id = connect(1234);
  guest_sends(from_guest(VsockOp::rw, 1234), std::string(300, 'x'));
  ASSERT_TRUE(mux->consumed(id, 120).ok());
  guest_sends(from_guest(VsockOp::credit_request, 1234));
  guest_sends(from_guest(VsockOp::credit_request, 1234));  // deduplicated
  auto out = drain();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].header.operation(), VsockOp::credit_update);
  EXPECT_EQ(out[0].header.fwd_cnt, 120u);
  EXPECT_EQ(out[0].header.buf_alloc, 1000u);
  EXPECT_FALSE(mux->consumed(id, 181).ok());  // only 180 unconsumed
}

TEST_F(MuxTest, ConsumingVolunteersCreditWhenTheGuestRunsLow) {
  const ConnId id = connect(1234);
  guest_sends(from_guest(VsockOp::rw, 1234), std::string(900, 'x'));
  ASSERT_TRUE(mux->consumed(id, 900).ok());
  auto out = drain();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].header.operation(), VsockOp::credit_update);
  EXPECT_EQ(out[0].header.fwd_cnt, 900u);
  guest_sends(from_guest(VsockOp::rw, 1234), std::string(1000, 'y'));  // the full window again
  EXPECT_FALSE(handler.records[id].reset);
}

TEST_F(MuxTest, CreditViolationResetsThatConnectionOnly) {
  const ConnId good = connect(1);
  const ConnId bad = connect(2);
  guest_sends(from_guest(VsockOp::rw, 2), std::string(1000, 'x'));  // exactly the window
  EXPECT_FALSE(handler.records[bad].reset);
  guest_sends(from_guest(VsockOp::rw, 2), "!");  // one byte more than advertised
  EXPECT_TRUE(handler.records[bad].reset);
  EXPECT_EQ(mux->find(bad), nullptr);
  auto out = drain();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].header.operation(), VsockOp::rst);
  EXPECT_EQ(out[0].header.dst_port, 2u);

  EXPECT_FALSE(handler.records[good].reset);
  guest_sends(from_guest(VsockOp::rw, 1), "still fine");
  EXPECT_EQ(handler.records[good].data, "still fine");
  EXPECT_EQ(mux->send(bad, bytes("x")).code(), ENOTCONN);
  EXPECT_TRUE(mux->send(good, bytes("x")).ok());
}

TEST_F(MuxTest, PayloadShorterThanLenResetsTheConnection) {
  const ConnId id = connect(1);
  VsockHeader h = from_guest(VsockOp::rw, 1);
  h.len = 10;
  const std::string five = "12345";
  mux->on_packet(h, bytes(five));
  EXPECT_TRUE(handler.records[id].reset);
  EXPECT_EQ(handler.records[id].data, "");
}

TEST_F(MuxTest, GuestShutdownThenRst) {
  const ConnId id = connect(1);
  VsockHeader sd = from_guest(VsockOp::shutdown, 1);
  sd.flags = kShutdownSend;
  guest_sends(sd);
  EXPECT_EQ(handler.records[id].shutdown, kShutdownSend);
  EXPECT_FALSE(handler.records[id].reset);
  ASSERT_TRUE(mux->send(id, bytes("reply")).ok());  // it can still receive
  EXPECT_EQ(text(drain().at(0)), "reply");
  guest_sends(from_guest(VsockOp::rw, 1), "late");  // but may not send
  EXPECT_TRUE(handler.records[id].reset);
  EXPECT_EQ(drain().at(0).header.operation(), VsockOp::rst);
}

TEST_F(MuxTest, GuestShutdownOfBothDirectionsEndsTheConnection) {
  const ConnId id = connect(1);
  ASSERT_TRUE(mux->send(id, bytes("unsent")).ok());
  VsockHeader sd = from_guest(VsockOp::shutdown, 1);
  sd.flags = kShutdownBoth;
  guest_sends(sd);
  EXPECT_EQ(handler.records[id].shutdown, kShutdownBoth);
  EXPECT_TRUE(handler.records[id].reset);
  auto out = drain();
  ASSERT_EQ(out.size(), 1u);  // the RST; the unsent bytes are dropped
  EXPECT_EQ(out[0].header.operation(), VsockOp::rst);
}

TEST_F(MuxTest, HostShutdownFlushesThenWaitsForRst) {
  const ConnId id = connect(1);
  ASSERT_TRUE(mux->send(id, bytes("last words")).ok());
  ASSERT_TRUE(mux->shutdown(id).ok());
  EXPECT_EQ(mux->send(id, bytes("more")).code(), ENOTCONN);
  auto out = drain();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(text(out[0]), "last words");
  EXPECT_EQ(out[1].header.operation(), VsockOp::shutdown);
  EXPECT_EQ(out[1].header.flags, kShutdownBoth);
  EXPECT_FALSE(handler.records[id].reset);
  guest_sends(from_guest(VsockOp::rst, 1));
  EXPECT_TRUE(handler.records[id].reset);
  EXPECT_FALSE(mux->has_output());  // an RST is never answered
  EXPECT_EQ(mux->connection_count(), 0u);
}

TEST_F(MuxTest, PacketsForUnknownConnectionsGetRstButRstDoesNot) {
  guest_sends(from_guest(VsockOp::rw, 77), "who?");
  guest_sends(from_guest(VsockOp::credit_request, 78));
  guest_sends(from_guest(VsockOp::rst, 79));
  auto out = drain();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].header.operation(), VsockOp::rst);
  EXPECT_EQ(out[0].header.dst_port, 77u);
  EXPECT_EQ(out[1].header.dst_port, 78u);
}

TEST_F(MuxTest, ProtocolViolationsResetTheConnection) {
  for (VsockOp op :
       {VsockOp::response, VsockOp::request, VsockOp::invalid, static_cast<VsockOp>(99)}) {
    const ConnId id = connect(5);
    guest_sends(from_guest(op, 5));
    EXPECT_TRUE(handler.records[id].reset) << static_cast<int>(op);
    drain();
  }
}

TEST_F(MuxTest, WrongSocketTypeOnALiveConnectionResetsIt) {
  const ConnId id = connect(5);
  VsockHeader h = from_guest(VsockOp::rw, 5);
  h.type = static_cast<uint16_t>(VsockType::seqpacket);
  guest_sends(h, "x");
  EXPECT_TRUE(handler.records[id].reset);
}

TEST_F(MuxTest, StrangerFloodIsBounded) {
  config.max_control_queue = 16;
  mux = make_mux();
  for (uint32_t i = 0; i < 1000; ++i) guest_sends(from_guest(VsockOp::rw, 100 + i), "x");
  EXPECT_EQ(drain().size(), 16u);
}

TEST_F(MuxTest, SendQueueIsBounded) {
  config.max_tx_queue = 10;
  mux = make_mux();
  const ConnId id = connect(1, /*guest_buf=*/0);  // guest grants no credit
  EXPECT_TRUE(mux->send(id, bytes("0123456789")).ok());
  EXPECT_EQ(mux->send(id, bytes("x")).code(), ENOBUFS);
}

TEST_F(MuxTest, SinkMayResetFromInsideItsCallback) {
  const ConnId id = connect(1);
  handler.on_data_hook = [&] { mux->reset(id); };
  guest_sends(from_guest(VsockOp::rw, 1), "bye");
  EXPECT_EQ(handler.records[id].data, "bye");
  EXPECT_FALSE(handler.records[id].reset);  // it asked for it: no callback
  EXPECT_EQ(mux->connection_count(), 0u);
  EXPECT_EQ(drain().at(0).header.operation(), VsockOp::rst);
}

TEST_F(MuxTest, ResetAllEndsEveryConnection) {
  const ConnId a = connect(1), b = connect(2);
  mux->reset_all();
  EXPECT_TRUE(handler.records[a].reset);
  EXPECT_TRUE(handler.records[b].reset);
  EXPECT_EQ(mux->connection_count(), 0u);
  EXPECT_FALSE(mux->has_output());
}

// A paused VM keeps its sockets while the rings stop: each one hears an RST once they restart.
TEST_F(MuxTest, ResetAllTellingGuestQueuesAnRstPerConnection) {
  const ConnId a = connect(1), b = connect(2);
  mux->reset_all_telling_guest();
  EXPECT_TRUE(handler.records[a].reset);
  EXPECT_TRUE(handler.records[b].reset);
  EXPECT_EQ(mux->connection_count(), 0u);
  auto out = drain();
  ASSERT_EQ(out.size(), 2u);
  std::set<uint32_t> ports;
  for (const auto& p : out) {
    EXPECT_EQ(p.header.operation(), VsockOp::rst);
    ports.insert(p.header.dst_port);
  }
  EXPECT_EQ(ports, (std::set<uint32_t>{1, 2}));
}

TEST_F(MuxTest, StaleIdsNeverReachANewConnectionOnTheSamePorts) {
  const ConnId old_id = connect(1);
  guest_sends(from_guest(VsockOp::rst, 1));
  const ConnId new_id = connect(1);
  EXPECT_NE(old_id, new_id);
  EXPECT_EQ(mux->send(old_id, bytes("x")).code(), ENOTCONN);
}

// 4 GiB and more through one connection in each direction, so every credit counter (ours and
// the simulated guest's) wraps past 2^32 while the accounting stays exact.
TEST_F(MuxTest, CreditAccountingSurvivesU32Wrap) {
  config.buf_alloc = 256 * 1024;
  mux = make_mux();
  constexpr uint32_t kChunk = 64 * 1024;
  const ConnId id = connect(1, /*guest_buf=*/256 * 1024);
  handler.on_data_hook = nullptr;
  const std::string chunk(kChunk, 'z');
  uint32_t guest_tx = 0, guest_fwd = 0;  // the simulated guest's own wrapping counters
  uint32_t advertised_fwd = 0;
  const uint64_t total = (1ull << 32) + 5 * kChunk;
  for (uint64_t sent = 0; sent < total; sent += kChunk) {
    // guest -> host: never more than the host advertised
    ASSERT_LE(static_cast<uint32_t>(guest_tx + kChunk - advertised_fwd), 256u * 1024);
    VsockHeader h = from_guest(VsockOp::rw, 1, kPort, kChunk, 256 * 1024, guest_fwd);
    mux->on_packet(h, bytes(chunk));
    guest_tx += kChunk;
    handler.records[id].data.clear();
    ASSERT_TRUE(mux->consumed(id, kChunk).ok());
    // host -> guest
    ASSERT_TRUE(mux->send(id, bytes(chunk)).ok());
    while (auto p = mux->next_packet(kChunk)) {
      if (p->header.operation() == VsockOp::rw) guest_fwd += p->header.len;  // guest reads it
      advertised_fwd = p->header.fwd_cnt;
    }
    guest_sends(from_guest(VsockOp::credit_update, 1, kPort, 0, 256 * 1024, guest_fwd));
    ASSERT_FALSE(handler.records[id].reset) << sent;
  }
  const VsockConnection* c = mux->find(id);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->rx_cnt().value(), guest_tx);
  EXPECT_EQ(c->fwd_cnt().value(), static_cast<uint32_t>(total));
  EXPECT_EQ(c->tx_cnt().value(), guest_fwd);
  EXPECT_EQ(c->tx_cnt().value(), static_cast<uint32_t>(total));
  EXPECT_LT(c->rx_cnt().value(), 1u << 20);  // it really wrapped
}

}  // namespace
}  // namespace bridge::vhost_user
