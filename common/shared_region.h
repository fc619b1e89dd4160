// SharedRegion: one mapping of the bulk-data region both daemons see. In a VM it is QEMU's
// ivshmem-plain BAR2 (the guest maps /sys/bus/pci/devices/*/resource2, the host maps the
// memory-backend-file behind it); in local mode it is a memfd the host creates and hands over.
// Offsets on the wire are relative to its start. Every offset and length that crossed a trust
// boundary goes through slice(), which refuses anything outside the mapping instead of
// trusting the peer's arithmetic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace bridge {

class SharedRegion {
 public:
  // Maps all of `fd` (its size from fstat) shared and read-write.
  static Result<SharedRegion> map_fd(UniqueFd fd, std::string what);
  // Opens and maps a file: a PCI BAR (`.../resource2`), a /dev/shm file, a memfd's /proc path.
  static Result<SharedRegion> map_file(const std::string& path);
  // A fresh memfd of `size` bytes (local mode: the host makes it, the guest receives the fd).
  static Result<SharedRegion> create_memfd(uint64_t size, const std::string& name);

  SharedRegion() = default;
  SharedRegion(SharedRegion&& other) noexcept;
  SharedRegion& operator=(SharedRegion&& other) noexcept;
  SharedRegion(const SharedRegion&) = delete;
  SharedRegion& operator=(const SharedRegion&) = delete;
  ~SharedRegion();

  bool mapped() const { return base_ != nullptr; }
  uint64_t size() const { return size_; }
  int fd() const { return fd_.get(); }  // for handing the region to a client (SCM_RIGHTS)
  const std::string& what() const { return what_; }

  // [offset, offset + length) of the region, or EFAULT naming the range when any byte of it
  // lies outside. Overflow-safe for any 64-bit inputs.
  Result<std::span<std::byte>> slice(uint64_t offset, uint64_t length) const;

  // The region's first 8 bytes: the token both hellos compare (schema RegionInfo.token).
  uint64_t token() const;
  void set_token(uint64_t token);

 private:
  SharedRegion(UniqueFd fd, std::byte* base, uint64_t size, std::string what);
  void unmap();

  UniqueFd fd_;
  std::byte* base_ = nullptr;
  uint64_t size_ = 0;
  std::string what_;
};

// True when [offset, offset + length) lies within [0, size). The one bounds check every
// region user shares.
constexpr bool range_within(uint64_t offset, uint64_t length, uint64_t size) {
  return offset <= size && length <= size - offset;
}

}  // namespace bridge
