// Guest memory as the vhost-user front-end (QEMU) describes it in VHOST_USER_SET_MEM_TABLE: up
// to kMaxRegions regions, each a file descriptor (memfd) that we map MAP_SHARED, plus three
// addresses for the same bytes: guest-physical (what descriptors carry), QEMU's virtual address
// (what SET_VRING_ADDR carries) and the offset of the region inside the fd.
//
// Contract: every guest-supplied address goes through translate_gpa()/translate_uva(), which
// return a host pointer only when the whole range [addr, addr+len) lies inside one region,
// computed with overflow-checked arithmetic. Anything else is an error value (EFAULT), never a
// crash. The bytes behind a returned pointer are shared with a hostile guest and may change at
// any moment: copy before validating, never validate in place and then re-read.
//
// Lifetime: pointers stay valid while this GuestMemory lives. A new memory table replaces the
// whole object; users (Virtqueue) translate on every access instead of caching pointers, so a
// table swap cannot leave a dangling ring pointer behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace bridge::vhost_user {

// One region as VHOST_USER_SET_MEM_TABLE carries it (VhostUserMemoryRegion).
struct MemoryRegionDesc {
  uint64_t guest_phys_addr = 0;
  uint64_t memory_size = 0;
  uint64_t userspace_addr = 0;  // QEMU's virtual address of the region
  uint64_t mmap_offset = 0;     // where the region starts inside the fd
};

// An owned MAP_SHARED mapping, unmapped on destruction. Move-only.
class Mapping {
 public:
  Mapping() = default;
  ~Mapping();
  Mapping(Mapping&& other) noexcept;
  Mapping& operator=(Mapping&& other) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;

  // Maps [0, size) of `fd` read-write, shared. EINVAL for size 0; the mmap errno otherwise.
  static Result<Mapping> map_shared(int fd, uint64_t size);

  uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  Mapping(uint8_t* data, uint64_t size) : data_(data), size_(size) {}
  void reset();

  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

class GuestMemory {
 public:
  // VHOST_MEMORY_BASELINE_NREGIONS: what SET_MEM_TABLE can carry.
  static constexpr std::size_t kMaxRegions = 8;

  GuestMemory() = default;  // no regions: every translation fails
  GuestMemory(GuestMemory&&) = default;
  GuestMemory& operator=(GuestMemory&&) = default;
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  // One fd per region, in the same order. The fds are closed once mapped (the mappings keep
  // the memory alive). Refused (EINVAL): count mismatch, more than kMaxRegions, an empty
  // region, address ranges that overflow or overlap (guest-physical or QEMU-virtual), or an fd
  // smaller than mmap_offset + memory_size (touching past its end would raise SIGBUS).
  static Result<GuestMemory> map(std::span<const MemoryRegionDesc> regions,
                                 std::vector<UniqueFd> fds);

  // Host pointer for guest-physical [gpa, gpa+len), EFAULT unless it lies inside one region.
  // len 0 still needs gpa inside a region.
  Result<uint8_t*> translate_gpa(uint64_t gpa, uint64_t len) const;
  // Host pointer for QEMU-virtual [uva, uva+len), same rules.
  Result<uint8_t*> translate_uva(uint64_t uva, uint64_t len) const;

  std::size_t region_count() const { return regions_.size(); }

 private:
  struct Region {
    MemoryRegionDesc desc;
    Mapping mapping;     // [0, mmap_offset + memory_size) of the fd
    uint8_t* base = {};  // mapping.data() + mmap_offset: the region's first byte
  };
  enum class Space { guest_physical, qemu_virtual };
  Result<uint8_t*> translate(Space space, uint64_t addr, uint64_t len) const;

  std::vector<Region> regions_;
};

}  // namespace bridge::vhost_user
