#include "bridge-host/vhost-user/vsock_packet.h"

#include "bridge-host/vhost-user/le.h"

namespace bridge::vhost_user {

Result<VsockHeader> parse_vsock_header(std::span<const uint8_t> bytes) {
  if (bytes.size() < kVsockHeaderSize) return make_error(EINVAL, "short virtio_vsock_hdr");
  const uint8_t* p = bytes.data();
  VsockHeader h;
  h.src_cid = load_le<uint64_t>(p + 0);
  h.dst_cid = load_le<uint64_t>(p + 8);
  h.src_port = load_le<uint32_t>(p + 16);
  h.dst_port = load_le<uint32_t>(p + 20);
  h.len = load_le<uint32_t>(p + 24);
  h.type = load_le<uint16_t>(p + 28);
  h.op = load_le<uint16_t>(p + 30);
  h.flags = load_le<uint32_t>(p + 32);
  h.buf_alloc = load_le<uint32_t>(p + 36);
  h.fwd_cnt = load_le<uint32_t>(p + 40);
  return h;
}

std::array<uint8_t, kVsockHeaderSize> serialize_vsock_header(const VsockHeader& h) {
  std::array<uint8_t, kVsockHeaderSize> out{};
  uint8_t* p = out.data();
  store_le<uint64_t>(p + 0, h.src_cid);
  store_le<uint64_t>(p + 8, h.dst_cid);
  store_le<uint32_t>(p + 16, h.src_port);
  store_le<uint32_t>(p + 20, h.dst_port);
  store_le<uint32_t>(p + 24, h.len);
  store_le<uint16_t>(p + 28, h.type);
  store_le<uint16_t>(p + 30, h.op);
  store_le<uint32_t>(p + 32, h.flags);
  store_le<uint32_t>(p + 36, h.buf_alloc);
  store_le<uint32_t>(p + 40, h.fwd_cnt);
  return out;
}

Verdict validate_from_guest(const VsockHeader& h, uint64_t guest_cid, uint64_t payload_bytes) {
  // Spoofed source or someone else's destination: no answer (Linux vhost drops these too).
  if (h.src_cid != guest_cid || h.dst_cid != kHostCid) return Verdict::drop;
  // Never answer an RST with an RST (two ends could ping-pong forever).
  const Verdict refuse = h.operation() == VsockOp::rst ? Verdict::drop : Verdict::reset;
  if (h.type != static_cast<uint16_t>(VsockType::stream)) return refuse;
  // A payload the chain does not carry cannot be read; one past the limit would let the guest
  // make us buffer without bound. Either way the byte stream is lost: reset it.
  if (h.len > payload_bytes || h.len > kMaxPacketPayload) return refuse;
  return Verdict::accept;
}

}  // namespace bridge::vhost_user
