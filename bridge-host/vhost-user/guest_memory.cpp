#include "bridge-host/vhost-user/guest_memory.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <string>
#include <utility>

namespace bridge::vhost_user {
namespace {

// *end = start + size; false on overflow. Ranges here are half-open [start, end).
bool checked_end(uint64_t start, uint64_t size, uint64_t* end) {
  return !__builtin_add_overflow(start, size, end);
}

bool overlaps(uint64_t a, uint64_t a_size, uint64_t b, uint64_t b_size) {
  // Both ranges were checked not to overflow.
  return a < b + b_size && b < a + a_size;
}

}  // namespace

Mapping::~Mapping() {
  reset();
}

Mapping::Mapping(Mapping&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

Mapping& Mapping::operator=(Mapping&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void Mapping::reset() {
  if (data_ != nullptr) {
    // INVARIANT: data_/size_ are exactly what mmap returned/was given in map_shared, and no
    // one else unmaps them: this object is their only owner.
    ::munmap(data_, size_);
  }
  data_ = nullptr;
  size_ = 0;
}

Result<Mapping> Mapping::map_shared(int fd, uint64_t size) {
  if (size == 0 || size > SIZE_MAX) return make_error(EINVAL, "empty or oversized mapping");
  // INVARIANT: a fresh shared mapping chosen by the kernel (no MAP_FIXED), so it cannot
  // clobber anything; the caller checked that the fd covers [0, size). MAP_NORESERVE: guest RAM
  // is backed by the memfd, not by our commit charge.
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
  if (p == MAP_FAILED) return make_error(errno, "mmap of a guest memory region");
  // INVARIANT: mmap returns a pointer to bytes; viewing them as uint8_t is always allowed.
  return Mapping(static_cast<uint8_t*>(p), size);
}

Result<GuestMemory> GuestMemory::map(std::span<const MemoryRegionDesc> regions,
                                     std::vector<UniqueFd> fds) {
  if (regions.size() != fds.size()) return make_error(EINVAL, "memory table: fd count mismatch");
  if (regions.empty() || regions.size() > kMaxRegions) {
    return make_error(EINVAL, "memory table: bad region count");
  }
  for (std::size_t i = 0; i < regions.size(); ++i) {
    const MemoryRegionDesc& r = regions[i];
    uint64_t end;
    if (r.memory_size == 0 || !checked_end(r.guest_phys_addr, r.memory_size, &end) ||
        !checked_end(r.userspace_addr, r.memory_size, &end) ||
        !checked_end(r.mmap_offset, r.memory_size, &end)) {
      return make_error(EINVAL, "memory table: region " + std::to_string(i) + " overflows");
    }
    if (!fds[i].valid()) return make_error(EBADF, "memory table: region without an fd");
    for (std::size_t j = 0; j < i; ++j) {
      const MemoryRegionDesc& o = regions[j];
      if (overlaps(r.guest_phys_addr, r.memory_size, o.guest_phys_addr, o.memory_size) ||
          overlaps(r.userspace_addr, r.memory_size, o.userspace_addr, o.memory_size)) {
        return make_error(EINVAL, "memory table: regions overlap");
      }
    }
  }

  GuestMemory memory;
  for (std::size_t i = 0; i < regions.size(); ++i) {
    const MemoryRegionDesc& r = regions[i];
    const uint64_t length = r.mmap_offset + r.memory_size;  // checked above
    struct stat st {};
    if (::fstat(fds[i].get(), &st) != 0) return make_error(errno, "fstat of a memory region fd");
    // A memfd or a regular file must cover the mapping, or touching the tail raises SIGBUS.
    if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) < length) {
      return make_error(EINVAL, "memory table: fd smaller than its region");
    }
    // mmap offsets must be page-aligned and mmap_offset need not be, so map from 0 and add the
    // offset afterwards (as libvhost-user does).
    auto mapping = Mapping::map_shared(fds[i].get(), length);
    if (!mapping) return mapping.error();
    Region region{r, std::move(*mapping), nullptr};
    region.base = region.mapping.data() + r.mmap_offset;
    memory.regions_.push_back(std::move(region));
  }
  return memory;  // fds close here; the mappings keep the memory
}

Result<uint8_t*> GuestMemory::translate(Space space, uint64_t addr, uint64_t len) const {
  for (const Region& r : regions_) {
    const uint64_t start =
        space == Space::guest_physical ? r.desc.guest_phys_addr : r.desc.userspace_addr;
    if (addr < start) continue;
    const uint64_t offset = addr - start;
    if (offset >= r.desc.memory_size) continue;
    // offset < memory_size, so the subtraction cannot wrap; len must fit in what is left.
    if (len > r.desc.memory_size - offset) break;  // starts here, runs past the region's end
    return r.base + offset;
  }
  return make_error(EFAULT, space == Space::guest_physical ? "guest-physical range outside memory"
                                                           : "QEMU-virtual range outside memory");
}

Result<uint8_t*> GuestMemory::translate_gpa(uint64_t gpa, uint64_t len) const {
  return translate(Space::guest_physical, gpa, len);
}

Result<uint8_t*> GuestMemory::translate_uva(uint64_t uva, uint64_t len) const {
  return translate(Space::qemu_virtual, uva, len);
}

}  // namespace bridge::vhost_user
