// RegionAllocator: the host's bookkeeping of the shared region. The host allocates every range
// the guest may write or read (schema/bridge.capnp, "Bulk data"), so a guest can never make
// the host read bytes it did not set aside. Ranges are page-aligned so a client can mmap its
// own range of the region's fd (display framebuffers). First fit over a sorted free list:
// few, large, long-lived ranges (framebuffers) and short-lived read buffers.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "common/result.h"

namespace bridge {

class RegionAllocator;

// Owns one allocated range; frees it on destruction. Safe to outlive the allocator.
class RegionLease {
 public:
  RegionLease() = default;
  RegionLease(RegionLease&& other) noexcept;
  RegionLease& operator=(RegionLease&& other) noexcept;
  RegionLease(const RegionLease&) = delete;
  RegionLease& operator=(const RegionLease&) = delete;
  ~RegionLease();

  bool valid() const { return length_ != 0; }
  uint64_t offset() const { return offset_; }
  uint64_t length() const { return length_; }
  // Is [offset, offset + length) inside this lease? For checking a peer's answer.
  bool covers(uint64_t offset, uint64_t length) const;
  void release();

 private:
  friend class RegionAllocator;
  struct Pool;
  RegionLease(std::shared_ptr<Pool> pool, uint64_t offset, uint64_t length);

  std::shared_ptr<Pool> pool_;
  uint64_t offset_ = 0;
  uint64_t length_ = 0;
};

class RegionAllocator {
 public:
  static constexpr uint64_t kPage = 4096;

  explicit RegionAllocator(uint64_t size);

  uint64_t size() const;
  uint64_t bytes_free() const;
  // A range of at least `length` bytes (rounded up to whole pages), or ENOSPC saying how much
  // was asked and how much is free.
  Result<RegionLease> allocate(uint64_t length);

 private:
  std::shared_ptr<RegionLease::Pool> pool_;
};

}  // namespace bridge
