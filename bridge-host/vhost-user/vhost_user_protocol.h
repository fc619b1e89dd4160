// vhost-user messages (QEMU docs/interop/vhost-user.rst), the subset a vsock device backend
// needs. Every message on the unix socket is a 12-byte header, then `size` payload bytes, with
// file descriptors riding along as SCM_RIGHTS on the header's recvmsg:
//   le32 request; le32 flags (bits 0-1 version = 1, bit 2 reply, bit 3 need_reply); le32 size
// Payloads used here (little-endian, packed as QEMU sends them):
//   u64          GET_FEATURES/GET_PROTOCOL_FEATURES/GET_QUEUE_NUM replies, SET_FEATURES,
//                SET_PROTOCOL_FEATURES; SET_VRING_KICK/CALL/ERR (bits 0-7 index, bit 8 NOFD)
//   vring state  { u32 index; u32 num }   SET_VRING_NUM/BASE/ENABLE, GET_VRING_BASE (+ reply)
//   vring addr   { u32 index; u32 flags; u64 desc; u64 used; u64 avail; u64 log }
//   memory       { u32 nregions; u32 padding; {u64 gpa; u64 size; u64 uaddr; u64 mmap_offset}[n] }
//                with exactly n fds; size == 8 + 32 * n
//   config       { u32 offset; u32 size; u32 flags; u8 payload[size] }   GET_CONFIG (+ reply)
//
// QEMU is the front-end and more trusted than the guest, but a confused or compromised one
// must still not crash us: parse_body() checks the exact size for each request type and the
// exact number of fds, and refuses anything else (EINVAL/EBADMSG), closing surplus fds.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "bridge-host/vhost-user/guest_memory.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace bridge::vhost_user {

enum class Request : uint32_t {
  get_features = 1,
  set_features = 2,
  set_owner = 3,
  reset_owner = 4,
  set_mem_table = 5,
  set_vring_num = 8,
  set_vring_addr = 9,
  set_vring_base = 10,
  get_vring_base = 11,
  set_vring_kick = 12,
  set_vring_call = 13,
  set_vring_err = 14,
  get_protocol_features = 15,
  set_protocol_features = 16,
  get_queue_num = 17,
  set_vring_enable = 18,
  get_config = 24,
};

inline constexpr std::size_t kHeaderSize = 12;
inline constexpr uint32_t kVersion = 0x1;
inline constexpr uint32_t kVersionMask = 0x3;
inline constexpr uint32_t kFlagReply = 0x4;
inline constexpr uint32_t kFlagNeedReply = 0x8;
inline constexpr uint32_t kMaxPayload = 4096;  // far above any message we accept
inline constexpr std::size_t kMaxFds = GuestMemory::kMaxRegions;
inline constexpr uint64_t kVringIndexMask = 0xff;  // SET_VRING_KICK/CALL/ERR payload
inline constexpr uint64_t kVringNoFd = 0x100;
inline constexpr uint32_t kMaxConfigSize = 256;

// Feature bits.
inline constexpr uint64_t kFeatureRingIndirect = 1ull << 28;      // VIRTIO_RING_F_INDIRECT_DESC
inline constexpr uint64_t kFeatureRingEventIdx = 1ull << 29;      // VIRTIO_RING_F_EVENT_IDX
inline constexpr uint64_t kFeatureProtocolFeatures = 1ull << 30;  // VHOST_USER_F_PROTOCOL_FEATURES
inline constexpr uint64_t kFeatureVersion1 = 1ull << 32;          // VIRTIO_F_VERSION_1
inline constexpr uint64_t kProtocolMq = 1ull << 0;
inline constexpr uint64_t kProtocolReplyAck = 1ull << 3;
inline constexpr uint64_t kProtocolConfig = 1ull << 9;  // QEMU 7.2 vhost-user-vsock requires it

struct Header {
  uint32_t request = 0;  // raw: unknown requests are reported, not trusted
  uint32_t flags = 0;
  uint32_t size = 0;
};

struct NoPayload {};
struct VringState {
  uint32_t index = 0;
  uint32_t num = 0;
};
struct VringAddr {
  uint32_t index = 0;
  uint32_t flags = 0;
  uint64_t desc = 0;
  uint64_t used = 0;
  uint64_t avail = 0;
  uint64_t log = 0;
};
struct MemoryTable {
  std::vector<MemoryRegionDesc> regions;  // fds in Message::fds, same order
};
struct VringFile {
  uint32_t index = 0;
  bool has_fd = false;  // false: NOFD (polling / no notification)
};
struct ConfigSpace {
  uint32_t offset = 0;
  uint32_t size = 0;
  uint32_t flags = 0;
};
using Payload =
    std::variant<NoPayload, uint64_t, VringState, VringAddr, MemoryTable, VringFile, ConfigSpace>;

struct Message {
  Request request{};
  uint32_t flags = 0;
  Payload payload;
  std::vector<UniqueFd> fds;
  bool need_reply() const { return (flags & kFlagNeedReply) != 0; }
};

// Header checks: version 1, reply bit clear (a back-end never receives replies), size within
// kMaxPayload. EBADMSG otherwise. Unknown request numbers pass here and fail in parse_body
// (so the caller can read and discard the payload and stay in sync).
Result<Header> parse_header(std::span<const uint8_t> bytes);
// Payload and fds for `header`. ENOSYS for a request this device does not implement; EINVAL
// for a wrong size, a wrong fd count, or fields out of range.
Result<Message> parse_body(const Header& header, std::span<const uint8_t> payload,
                           std::vector<UniqueFd> fds);

// Replies (header with version 1 and the reply bit, then the payload).
std::vector<uint8_t> encode_reply_u64(Request request, uint64_t value);
std::vector<uint8_t> encode_reply_vring_state(Request request, VringState state);
// GET_CONFIG reply: the request's offset/size/flags echoed, `config` bytes [offset, offset+size)
// of the device's config space (zero past its end).
std::vector<uint8_t> encode_reply_config(const ConfigSpace& request,
                                         std::span<const uint8_t> config);
// The vsock config space: struct virtio_vsock_config { le64 guest_cid; }.
std::array<uint8_t, 8> vsock_config_space(uint64_t guest_cid);

}  // namespace bridge::vhost_user
