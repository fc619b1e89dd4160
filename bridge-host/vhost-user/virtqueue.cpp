#include "bridge-host/vhost-user/virtqueue.h"

#include <algorithm>
#include <cstring>

#include "bridge-host/vhost-user/le.h"

namespace bridge::vhost_user {
namespace {

constexpr uint64_t kDescSize = 16;

struct Descriptor {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};

// Copies descriptor `index` out of shared memory once; all checks then use the copy.
Descriptor read_descriptor(const uint8_t* table, uint32_t index) {
  const uint8_t* p = table + static_cast<uint64_t>(index) * kDescSize;
  return Descriptor{load_le<uint64_t>(p), load_le<uint32_t>(p + 8), load_le<uint16_t>(p + 12),
                    load_le<uint16_t>(p + 14)};
}

bool aligned(const uint8_t* p, std::size_t alignment) {
  // INVARIANT: converting a pointer to an integer only to test its low bits.
  return reinterpret_cast<uintptr_t>(p) % alignment == 0;
}

// The ring indices are shared with the driver, which updates them concurrently: access them
// atomically. INVARIANT (both helpers): `p` is 2-byte aligned (rings() checks the host
// pointers) and points into a live shared mapping of guest memory, which has no C++ object
// type of its own, so viewing those two bytes as a uint16_t is sound.
uint16_t load_index_acquire(const uint8_t* p) {
  return from_le(__atomic_load_n(reinterpret_cast<const uint16_t*>(p), __ATOMIC_ACQUIRE));
}
uint16_t load_index_relaxed(const uint8_t* p) {
  return from_le(__atomic_load_n(reinterpret_cast<const uint16_t*>(p), __ATOMIC_RELAXED));
}
void store_index_release(uint8_t* p, uint16_t v) {
  __atomic_store_n(reinterpret_cast<uint16_t*>(p), to_le(v), __ATOMIC_RELEASE);
}

}  // namespace

std::size_t gather(const DescriptorChain& chain, uint64_t offset, std::span<uint8_t> out) {
  std::size_t copied = 0;
  for (const GuestBuffer& b : chain.readable) {
    if (copied == out.size()) break;
    if (offset >= b.len) {
      offset -= b.len;
      continue;
    }
    const std::size_t n = std::min<uint64_t>(b.len - offset, out.size() - copied);
    std::memcpy(out.data() + copied, b.data + offset, n);
    copied += n;
    offset = 0;
  }
  return copied;
}

std::size_t scatter(const DescriptorChain& chain, uint64_t offset, std::span<const uint8_t> in) {
  std::size_t copied = 0;
  for (const GuestBuffer& b : chain.writable) {
    if (copied == in.size()) break;
    if (offset >= b.len) {
      offset -= b.len;
      continue;
    }
    const std::size_t n = std::min<uint64_t>(b.len - offset, in.size() - copied);
    std::memcpy(b.data + offset, in.data() + copied, n);
    copied += n;
    offset = 0;
  }
  return copied;
}

Status Virtqueue::set_size(uint32_t num) {
  if (num == 0 || num > kMaxSize || (num & (num - 1)) != 0) {
    return make_error(EINVAL, "vring size must be a power of two up to 32768");
  }
  num_ = num;
  has_addresses_ = false;
  broken_ = false;
  return {};
}

Status Virtqueue::set_addresses(const VringAddresses& addresses) {
  if (num_ == 0) return make_error(EINVAL, "vring address before vring size");
  if (addresses.desc % 16 != 0 || addresses.avail % 2 != 0 || addresses.used % 4 != 0) {
    return make_error(EINVAL, "misaligned vring");
  }
  addresses_ = addresses;
  has_addresses_ = true;
  broken_ = false;
  used_synced_ = false;
  signalled_valid_ = false;
  return {};
}

void Virtqueue::set_base(uint16_t next_avail) {
  next_avail_ = next_avail;
  used_synced_ = false;
  signalled_valid_ = false;
}

Error Virtqueue::fail(int code, const char* what) {
  broken_ = true;
  return make_error(code, what);
}

Result<Virtqueue::Rings> Virtqueue::rings(const GuestMemory& memory) const {
  const uint64_t n = num_;
  const uint64_t extra = event_idx_ ? 2 : 0;  // used_event / avail_event trail the rings
  auto desc = memory.translate_uva(addresses_.desc, kDescSize * n);
  auto avail = memory.translate_uva(addresses_.avail, 4 + 2 * n + extra);
  auto used = memory.translate_uva(addresses_.used, 4 + 8 * n + extra);
  if (!desc || !avail || !used) return make_error(EFAULT, "vring outside guest memory");
  // QEMU-virtual alignment was checked, but mmap_offset may shift the host view.
  if (!aligned(*avail, 2) || !aligned(*used, 4)) {
    return make_error(EFAULT, "vring misaligned in host memory");
  }
  return Rings{*desc, *avail, *used};
}

Status Virtqueue::walk(const GuestMemory& memory, uint8_t* table, uint32_t table_size,
                       uint16_t index, bool indirect, DescriptorChain& chain) {
  // A chain visits each slot of its table at most once, so more hops than slots is a loop.
  for (uint32_t hops = 1;; ++hops) {
    if (index >= table_size) return fail(EIO, "descriptor index out of range");
    if (hops > table_size) return fail(EIO, "descriptor chain loops");
    const Descriptor d = read_descriptor(table, index);

    if (d.flags & kDescIndirect) {
      if (indirect) return fail(EIO, "nested indirect descriptor table");
      if ((d.flags & kDescNext) || !chain.readable.empty() || !chain.writable.empty()) {
        return fail(EIO, "indirect descriptor must be alone in its chain");
      }
      if (d.len == 0 || d.len % kDescSize != 0 || d.len / kDescSize > kMaxIndirect) {
        return fail(EIO, "bad indirect descriptor table size");
      }
      auto sub = memory.translate_gpa(d.addr, d.len);
      if (!sub) return fail(EIO, "indirect descriptor table outside guest memory");
      return walk(memory, *sub, d.len / kDescSize, 0, true, chain);
    }

    auto data = memory.translate_gpa(d.addr, d.len);
    if (!data) return fail(EIO, "descriptor buffer outside guest memory");
    if (d.flags & kDescWrite) {
      chain.writable.push_back({*data, d.len});
      chain.writable_bytes += d.len;
    } else {
      if (!chain.writable.empty()) return fail(EIO, "readable descriptor after a writable one");
      chain.readable.push_back({*data, d.len});
      chain.readable_bytes += d.len;
    }
    if (!(d.flags & kDescNext)) return {};
    index = d.next;
  }
}

Result<std::optional<DescriptorChain>> Virtqueue::pop(const GuestMemory& memory) {
  if (broken_) return make_error(EIO, "virtqueue is broken");
  if (!has_addresses_) return make_error(ENODEV, "virtqueue not configured");
  auto r = rings(memory);
  if (!r) return fail(EFAULT, "vring outside guest memory");

  // Acquire: the ring entry and descriptors the driver wrote before bumping idx are visible.
  const uint16_t avail_idx = load_index_acquire(r->avail + 2);
  const uint16_t pending = static_cast<uint16_t>(avail_idx - next_avail_);
  if (pending == 0) return std::optional<DescriptorChain>();
  if (pending > num_) return fail(EIO, "driver made more buffers available than the queue holds");

  uint8_t* slot = r->avail + 4 + 2 * static_cast<uint64_t>(next_avail_ % num_);
  const uint16_t head = load_le<uint16_t>(slot);
  DescriptorChain chain;
  chain.head = head;
  if (head >= num_) return fail(EIO, "available ring names a descriptor out of range");
  Status walked = walk(memory, r->desc, num_, head, false, chain);
  if (!walked) return walked.error();
  ++next_avail_;
  if (event_idx_) {
    // avail_event: kick us again once the driver goes past what we have consumed.
    store_index_release(r->used + 4 + 8 * static_cast<uint64_t>(num_), next_avail_);
  }
  return std::optional<DescriptorChain>(std::move(chain));
}

Status Virtqueue::push(const GuestMemory& memory, uint16_t head, uint32_t written) {
  if (broken_) return make_error(EIO, "virtqueue is broken");
  if (!has_addresses_) return make_error(ENODEV, "virtqueue not configured");
  if (head >= num_) return make_error(EINVAL, "pushing a descriptor head out of range");
  auto r = rings(memory);
  if (!r) return fail(EFAULT, "vring outside guest memory");
  if (!used_synced_) {
    // After set-up, continue from where the previous owner (or a fresh ring: 0) left off.
    next_used_ = load_index_relaxed(r->used + 2);
    used_synced_ = true;
  }
  uint8_t* elem = r->used + 4 + 8 * static_cast<uint64_t>(next_used_ % num_);
  store_le<uint32_t>(elem, head);
  store_le<uint32_t>(elem + 4, written);
  ++next_used_;
  // Release: the element is visible before the index that publishes it.
  store_index_release(r->used + 2, next_used_);
  return {};
}

Result<bool> Virtqueue::needs_notify(const GuestMemory& memory) {
  if (broken_) return make_error(EIO, "virtqueue is broken");
  if (!has_addresses_) return make_error(ENODEV, "virtqueue not configured");
  auto r = rings(memory);
  if (!r) return fail(EFAULT, "vring outside guest memory");
  // Full fence: our used->idx store must be ordered before reading the driver's suppression
  // fields, or we could miss an interrupt the driver is about to ask for.
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  if (!event_idx_) return (load_index_relaxed(r->avail) & kAvailNoInterrupt) == 0;

  const uint16_t old_idx = signalled_used_;
  const uint16_t new_idx = next_used_;
  const bool valid = signalled_valid_;
  signalled_used_ = new_idx;
  signalled_valid_ = true;
  if (!valid) return true;
  const uint16_t used_event = load_index_relaxed(r->avail + 4 + 2 * static_cast<uint64_t>(num_));
  // vring_need_event(): did new_idx pass used_event since old_idx?
  return static_cast<uint16_t>(new_idx - used_event - 1) < static_cast<uint16_t>(new_idx - old_idx);
}

}  // namespace bridge::vhost_user
