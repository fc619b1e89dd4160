// SIMULATION of a guest and its Linux virtio driver, for tests only (no QEMU is involved here):
// guest RAM is a memfd mapped twice, once by "the guest" (this driver view) and once by the
// device through GuestMemory, exactly as QEMU's memory-backend-memfd shares it. Vrings are laid
// out the way Linux's virtio_ring does (desc table, avail ring, used ring, event fields), and
// buffers are plain guest-physical ranges handed out by a bump allocator.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "bridge-host/vhost-user/guest_memory.h"
#include "bridge-host/vhost-user/virtqueue.h"
#include "common/unique_fd.h"

namespace bridge::vhost_user::test {

// Guest RAM: one memfd; the device sees it at guest-physical kGpaBase and QEMU-virtual kUvaBase.
class SimRam {
 public:
  static constexpr uint64_t kGpaBase = 0x100000;
  static constexpr uint64_t kUvaBase = 0x7f1200000000;

  explicit SimRam(uint64_t size = 1 << 20);
  ~SimRam();
  SimRam(const SimRam&) = delete;
  SimRam& operator=(const SimRam&) = delete;

  // The device's view, built through the real SET_MEM_TABLE path (one region).
  GuestMemory device_memory() const;
  // A new fd for the same RAM.
  UniqueFd dup_fd() const;
  // The driver's view of guest-physical `gpa`.
  uint8_t* at(uint64_t gpa) const { return base_ + (gpa - kGpaBase); }
  uint64_t uva(uint64_t gpa) const { return gpa - kGpaBase + kUvaBase; }
  uint64_t size() const { return size_; }
  // Bump allocation of guest-physical bytes (aligned).
  uint64_t alloc(uint64_t len, uint64_t align = 16);

 private:
  UniqueFd fd_;
  uint8_t* base_ = nullptr;
  uint64_t size_;
  uint64_t next_ = kGpaBase;
};

// One split virtqueue as the Linux driver lays it out.
class SimQueue {
 public:
  struct Seg {
    uint64_t gpa;
    uint32_t len;
    bool writable;
  };

  SimQueue(SimRam& ram, uint16_t num, bool event_idx = false);

  // Configures a device Virtqueue for this ring (SET_VRING_NUM, ADDR, BASE 0).
  void attach(Virtqueue& vq) const;

  // Writes the segments as a NEXT-linked chain in fresh descriptor slots and makes it
  // available. Returns the head.
  uint16_t add_chain(const std::vector<Seg>& segs);
  // Raw access for crafting bad chains.
  void set_desc(uint16_t index, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
  void publish(uint16_t head);  // puts head in the avail ring and bumps avail->idx
  void set_avail_idx(uint16_t idx);
  void set_used_event(uint16_t v);
  void set_avail_flags(uint16_t flags);
  uint16_t avail_event() const;

  // Used elements the device returned since the last call: (id, len).
  std::vector<std::pair<uint32_t, uint32_t>> take_used();

  uint64_t desc_gpa() const { return desc_; }
  uint64_t avail_gpa() const { return avail_; }
  uint64_t used_gpa() const { return used_; }
  uint16_t num() const { return num_; }

 private:
  SimRam& ram_;
  uint16_t num_;
  bool event_idx_;
  uint64_t desc_, avail_, used_;
  uint16_t next_desc_ = 0;
  uint16_t avail_idx_ = 0;
  uint16_t last_used_ = 0;
};

}  // namespace bridge::vhost_user::test
