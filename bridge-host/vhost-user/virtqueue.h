// A split virtqueue (virtio 1.2 section 2.7) seen from the device side.
//
// Wire layout, all little-endian, in guest memory shared with the driver:
//   descriptor table  num x { le64 addr; le32 len; le16 flags; le16 next; }   16-byte aligned
//   available ring    { le16 flags; le16 idx; le16 ring[num]; le16 used_event; } 2-byte aligned
//   used ring         { le16 flags; le16 idx; {le32 id; le32 len}[num]; le16 avail_event; }
//   4-aligned
// The three ring addresses arrive (VHOST_USER_SET_VRING_ADDR) as QEMU virtual addresses;
// descriptor addresses, including indirect tables, are guest-physical.
//
// Trust: the driver is hostile. Every descriptor is copied out of shared memory once and then
// checked: its buffer must lie inside one memory region, a chain may not be longer than the
// queue (which also catches NEXT loops), device-readable buffers may not follow writable ones,
// an indirect table must be one whole table of at most kMaxIndirect entries, sit alone in its
// chain, and may not nest. The first violation marks the queue broken (like QEMU's
// virtio_error): every later pop()/push() fails with EIO until the queue is set up again. The
// daemon and the other queues carry on.
//
// Ordering: pop() reads avail->idx with acquire semantics before reading ring entries and
// descriptors; push() writes the used element before publishing used->idx with release
// semantics; needs_notify() puts a full fence between that store and reading the driver's
// suppression fields (virtio 1.2 2.7.7.2 and 2.7.10).
//
// Threading: none; one owner (the device's io_context).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "bridge-host/vhost-user/guest_memory.h"
#include "common/result.h"

namespace bridge::vhost_user {

// Descriptor flags (virtq_desc.flags).
inline constexpr uint16_t kDescNext = 1;
inline constexpr uint16_t kDescWrite = 2;
inline constexpr uint16_t kDescIndirect = 4;
// avail.flags / used.flags.
inline constexpr uint16_t kAvailNoInterrupt = 1;
inline constexpr uint16_t kUsedNoNotify = 1;

// What SET_VRING_ADDR carries, already decoded (QEMU virtual addresses).
struct VringAddresses {
  uint64_t desc = 0;
  uint64_t avail = 0;
  uint64_t used = 0;
};

// One guest buffer: host pointer into guest memory and its length. Borrowed from GuestMemory.
struct GuestBuffer {
  uint8_t* data = nullptr;
  uint32_t len = 0;
};

// One available descriptor chain, split by direction.
struct DescriptorChain {
  uint16_t head = 0;                  // what push() must return to the driver
  std::vector<GuestBuffer> readable;  // device-readable, in order (driver -> device)
  std::vector<GuestBuffer> writable;  // device-writable, in order (device -> driver)
  uint64_t readable_bytes = 0;
  uint64_t writable_bytes = 0;
};

// Copies up to out.size() readable bytes starting at `offset` across buffer boundaries.
// Returns how many were copied (less at the end of the chain).
std::size_t gather(const DescriptorChain& chain, uint64_t offset, std::span<uint8_t> out);
// Copies `in` into the writable buffers starting at `offset`. Returns bytes written (less when
// the chain is too small).
std::size_t scatter(const DescriptorChain& chain, uint64_t offset, std::span<const uint8_t> in);

class Virtqueue {
 public:
  static constexpr uint32_t kMaxSize = 32768;     // virtio's limit for a split queue
  static constexpr uint32_t kMaxIndirect = 1024;  // entries per indirect table (Linux: <= 1024)

  // --- set-up (vhost-user control plane) ---
  // SET_VRING_NUM: a power of two in [1, kMaxSize]. EINVAL otherwise.
  Status set_size(uint32_t num);
  // SET_VRING_ADDR: alignment is checked here, ranges against memory on every access. Needs
  // set_size() first (EINVAL).
  Status set_addresses(const VringAddresses& addresses);
  // SET_VRING_BASE: where the next pop() starts (and the used index we continue from).
  void set_base(uint16_t next_avail);
  // GET_VRING_BASE: the next avail index we would consume.
  uint16_t base() const { return next_avail_; }
  // VIRTIO_RING_F_EVENT_IDX negotiated.
  void set_event_idx(bool on) { event_idx_ = on; }
  void set_enabled(bool on) { enabled_ = on; }
  bool enabled() const { return enabled_; }
  bool configured() const { return has_addresses_; }
  bool broken() const { return broken_; }
  uint32_t size() const { return num_; }

  // --- data path ---
  // The next available chain, nullopt when the driver has queued nothing new. EIO when the
  // queue is broken (now or before), ENODEV when not configured, EFAULT when a ring is not
  // inside guest memory.
  Result<std::optional<DescriptorChain>> pop(const GuestMemory& memory);
  // Returns chain `head` to the driver with `written` bytes written into its writable part.
  Status push(const GuestMemory& memory, uint16_t head, uint32_t written);
  // Whether the driver wants an interrupt (call eventfd) for what was pushed since the last
  // call that returned true. Honours VRING_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX.
  Result<bool> needs_notify(const GuestMemory& memory);

 private:
  struct Rings {
    uint8_t* desc;
    uint8_t* avail;
    uint8_t* used;
  };
  Result<Rings> rings(const GuestMemory& memory) const;
  Status walk(const GuestMemory& memory, uint8_t* table, uint32_t table_size, uint16_t index,
              bool indirect, DescriptorChain& chain);
  Error fail(int code, const char* what);

  uint32_t num_ = 0;
  VringAddresses addresses_;
  bool has_addresses_ = false;
  bool enabled_ = false;
  bool event_idx_ = false;
  bool broken_ = false;
  uint16_t next_avail_ = 0;      // free-running, mod 2^16 like the ring indices
  uint16_t next_used_ = 0;       // free-running
  bool used_synced_ = false;     // next_used_ read back from used->idx since set-up
  uint16_t signalled_used_ = 0;  // used idx at the last notification
  bool signalled_valid_ = false;
};

}  // namespace bridge::vhost_user
