// virtio-vsock packet header (virtio 1.2 section 5.10.6), the first 44 bytes of every packet on
// the TX and RX queues, little-endian and packed:
//   off  0 le64 src_cid      off 24 le32 len        off 32 le32 flags
//   off  8 le64 dst_cid      off 28 le16 type       off 36 le32 buf_alloc
//   off 16 le32 src_port     off 30 le16 op         off 40 le32 fwd_cnt
//   off 20 le32 dst_port
// `len` payload bytes follow (only for OP_RW). The Linux 6.1 driver puts the header and the
// payload in separate descriptors, so callers gather the header across buffers first.
//
// Parsing is pure: bytes in, a typed header out. Validation states what a guest may send to
// the host: stream sockets only, addressed to the host CID from its own CID, a bounded payload.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/result.h"

namespace bridge::vhost_user {

inline constexpr std::size_t kVsockHeaderSize = 44;
inline constexpr uint64_t kHostCid = 2;  // VMADDR_CID_HOST
// Largest RW payload we accept in one packet (VIRTIO_VSOCK_MAX_PKT_BUF_SIZE in Linux).
inline constexpr uint32_t kMaxPacketPayload = 64 * 1024;

enum class VsockType : uint16_t { stream = 1, seqpacket = 2 };

enum class VsockOp : uint16_t {
  invalid = 0,
  request = 1,
  response = 2,
  rst = 3,
  shutdown = 4,
  rw = 5,
  credit_update = 6,
  credit_request = 7,
};

// SHUTDOWN flags: the sender will receive no more / send no more.
inline constexpr uint32_t kShutdownRecv = 1;
inline constexpr uint32_t kShutdownSend = 2;
inline constexpr uint32_t kShutdownBoth = kShutdownRecv | kShutdownSend;

struct VsockHeader {
  uint64_t src_cid = 0;
  uint64_t dst_cid = 0;
  uint32_t src_port = 0;
  uint32_t dst_port = 0;
  uint32_t len = 0;
  uint16_t type = 0;  // raw: a guest may send any value; compare against VsockType
  uint16_t op = 0;    // raw, likewise VsockOp
  uint32_t flags = 0;
  uint32_t buf_alloc = 0;
  uint32_t fwd_cnt = 0;

  VsockOp operation() const { return static_cast<VsockOp>(op); }
  bool operator==(const VsockHeader&) const = default;
};

// EINVAL when fewer than kVsockHeaderSize bytes; extra bytes are ignored.
Result<VsockHeader> parse_vsock_header(std::span<const uint8_t> bytes);
std::array<uint8_t, kVsockHeaderSize> serialize_vsock_header(const VsockHeader& header);

// What the host does with a packet that fails validation.
enum class Verdict {
  accept,  // well-formed: hand it to the mux
  reset,   // answer with RST, resetting the connection if it exists (bad type, bad len)
  drop,    // drop silently: not addressed to us, or spoofed (answering could help a spoofer)
};
// `guest_cid` is the CID this device was configured with; `payload_bytes` is how many bytes the
// chain carries after the header (len may not claim more).
Verdict validate_from_guest(const VsockHeader& header, uint64_t guest_cid, uint64_t payload_bytes);

}  // namespace bridge::vhost_user
