#include "bridge-host/vhost-user/vsock_packet.h"

#include <gtest/gtest.h>

#include <vector>

#include "bridge-host/vhost-user/fuzz_entry.h"

namespace bridge::vhost_user {
namespace {

VsockHeader sample() {
  VsockHeader h;
  h.src_cid = 3;
  h.dst_cid = kHostCid;
  h.src_port = 0x11223344;
  h.dst_port = 5151;
  h.len = 7;
  h.type = static_cast<uint16_t>(VsockType::stream);
  h.op = static_cast<uint16_t>(VsockOp::rw);
  h.flags = 0xa5a5a5a5;
  h.buf_alloc = 262144;
  h.fwd_cnt = 0xfffffff0;
  return h;
}

TEST(VsockPacket, LayoutIsLittleEndianAndPacked) {
  auto bytes = serialize_vsock_header(sample());
  EXPECT_EQ(bytes[0], 3);      // src_cid
  EXPECT_EQ(bytes[8], 2);      // dst_cid
  EXPECT_EQ(bytes[16], 0x44);  // src_port, low byte first
  EXPECT_EQ(bytes[19], 0x11);
  EXPECT_EQ(bytes[20] | bytes[21] << 8, 5151);                      // dst_port
  EXPECT_EQ(bytes[24], 7);                                          // len
  EXPECT_EQ(bytes[28], 1);                                          // type
  EXPECT_EQ(bytes[30], 5);                                          // op
  EXPECT_EQ(bytes[36] | bytes[37] << 8 | bytes[38] << 16, 262144);  // buf_alloc
  EXPECT_EQ(bytes[40], 0xf0);                                       // fwd_cnt
  EXPECT_EQ(bytes[43], 0xff);
}

TEST(VsockPacket, RoundTrips) {
  auto bytes = serialize_vsock_header(sample());
  auto parsed = parse_vsock_header(bytes);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, sample());
}

TEST(VsockPacket, ShortHeaderIsRefused) {
  auto bytes = serialize_vsock_header(sample());
  EXPECT_EQ(parse_vsock_header(std::span(bytes).first(43)).code(), EINVAL);
  EXPECT_FALSE(parse_vsock_header({}).ok());
}

TEST(VsockPacket, ValidationFromGuest) {
  VsockHeader h = sample();
  EXPECT_EQ(validate_from_guest(h, 3, 7), Verdict::accept);
  EXPECT_EQ(validate_from_guest(h, 4, 7), Verdict::drop);  // spoofed source CID
  h.dst_cid = 1;
  EXPECT_EQ(validate_from_guest(h, 3, 7), Verdict::drop);  // not for the host
  h = sample();
  EXPECT_EQ(validate_from_guest(h, 3, 6), Verdict::reset);  // len beyond the chain
  h.len = kMaxPacketPayload + 1;
  EXPECT_EQ(validate_from_guest(h, 3, 1 << 20), Verdict::reset);  // len beyond the limit
  h.len = kMaxPacketPayload;
  EXPECT_EQ(validate_from_guest(h, 3, 1 << 20), Verdict::accept);
  h = sample();
  h.type = static_cast<uint16_t>(VsockType::seqpacket);
  EXPECT_EQ(validate_from_guest(h, 3, 7), Verdict::reset);
  h.op = static_cast<uint16_t>(VsockOp::rst);
  EXPECT_EQ(validate_from_guest(h, 3, 7), Verdict::drop);  // never RST an RST
}

TEST(VsockPacket, FuzzEntrySurvivesOddInputs) {
  std::vector<uint8_t> junk(500);
  for (std::size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<uint8_t>(i * 37 + 11);
  fuzz_vsock_input(junk.data(), junk.size());
  fuzz_vsock_input(nullptr, 0);
  // A real handshake and data, then garbage.
  std::vector<uint8_t> in;
  VsockHeader req = sample();
  req.op = static_cast<uint16_t>(VsockOp::request);
  req.len = 0;
  auto r = serialize_vsock_header(req);
  in.insert(in.end(), r.begin(), r.end());
  VsockHeader rw = sample();
  auto w = serialize_vsock_header(rw);
  in.insert(in.end(), w.begin(), w.end());
  in.insert(in.end(), {'p', 'a', 'y', 'l', 'o', 'a', 'd'});
  in.insert(in.end(), junk.begin(), junk.end());
  fuzz_vsock_input(in.data(), in.size());
}

}  // namespace
}  // namespace bridge::vhost_user
