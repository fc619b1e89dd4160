#include "sim_guest.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "bridge-host/vhost-user/le.h"

namespace bridge::vhost_user::test {

SimRam::SimRam(uint64_t size) : size_(size) {
  // INVARIANT: memfd_create returns a new fd or -1; UniqueFd owns it.
  fd_.reset(::memfd_create("sim-guest-ram", MFD_CLOEXEC));
  if (!fd_ || ::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) {
    throw std::runtime_error("memfd");
  }
  // INVARIANT: fresh shared mapping of the whole memfd, unmapped in the destructor.
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
  if (p == MAP_FAILED) throw std::runtime_error("mmap");
  base_ = static_cast<uint8_t*>(p);
}

SimRam::~SimRam() {
  // INVARIANT: base_/size_ are the mapping made in the constructor.
  ::munmap(base_, size_);
}

UniqueFd SimRam::dup_fd() const {
  // INVARIANT: dup of an fd we own; the result is owned by the returned UniqueFd.
  return UniqueFd(::dup(fd_.get()));
}

GuestMemory SimRam::device_memory() const {
  std::vector<UniqueFd> fds;
  fds.push_back(dup_fd());
  MemoryRegionDesc r{kGpaBase, size_, kUvaBase, 0};
  auto m = GuestMemory::map(std::span(&r, 1), std::move(fds));
  if (!m) throw std::runtime_error("GuestMemory::map");
  return std::move(*m);
}

uint64_t SimRam::alloc(uint64_t len, uint64_t align) {
  next_ = (next_ + align - 1) / align * align;
  const uint64_t gpa = next_;
  next_ += len;
  if (next_ > kGpaBase + size_) throw std::runtime_error("sim RAM exhausted");
  return gpa;
}

SimQueue::SimQueue(SimRam& ram, uint16_t num, bool event_idx)
    : ram_(ram), num_(num), event_idx_(event_idx) {
  desc_ = ram.alloc(16ull * num, 16);
  avail_ = ram.alloc(6 + 2ull * num, 2);
  used_ = ram.alloc(6 + 8ull * num, 4);
}

void SimQueue::attach(Virtqueue& vq) const {
  if (!vq.set_size(num_) ||
      !vq.set_addresses({ram_.uva(desc_), ram_.uva(avail_), ram_.uva(used_)})) {
    throw std::runtime_error("attach");
  }
  vq.set_base(0);
  vq.set_event_idx(event_idx_);
  vq.set_enabled(true);
}

void SimQueue::set_desc(uint16_t index, uint64_t addr, uint32_t len, uint16_t flags,
                        uint16_t next) {
  uint8_t* d = ram_.at(desc_ + 16ull * index);
  store_le<uint64_t>(d, addr);
  store_le<uint32_t>(d + 8, len);
  store_le<uint16_t>(d + 12, flags);
  store_le<uint16_t>(d + 14, next);
}

void SimQueue::publish(uint16_t head) {
  store_le<uint16_t>(ram_.at(avail_ + 4 + 2ull * (avail_idx_ % num_)), head);
  ++avail_idx_;
  __atomic_thread_fence(__ATOMIC_RELEASE);  // like virtio_wmb before the idx store
  store_le<uint16_t>(ram_.at(avail_ + 2), avail_idx_);
}

void SimQueue::set_avail_idx(uint16_t idx) {
  avail_idx_ = idx;
  store_le<uint16_t>(ram_.at(avail_ + 2), idx);
}
void SimQueue::set_used_event(uint16_t v) {
  store_le<uint16_t>(ram_.at(avail_ + 4 + 2ull * num_), v);
}
void SimQueue::set_avail_flags(uint16_t flags) {
  store_le<uint16_t>(ram_.at(avail_), flags);
}
uint16_t SimQueue::avail_event() const {
  return load_le<uint16_t>(ram_.at(used_ + 4 + 8ull * num_));
}

uint16_t SimQueue::add_chain(const std::vector<Seg>& segs) {
  const uint16_t head = next_desc_ % num_;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    const uint16_t index = (next_desc_ + i) % num_;
    const bool last = i + 1 == segs.size();
    const uint16_t flags = (segs[i].writable ? kDescWrite : 0) | (last ? 0 : kDescNext);
    set_desc(index, segs[i].gpa, segs[i].len, flags, (index + 1) % num_);
  }
  next_desc_ = static_cast<uint16_t>(next_desc_ + segs.size());
  publish(head);
  return head;
}

std::vector<std::pair<uint32_t, uint32_t>> SimQueue::take_used() {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  const uint16_t idx = load_le<uint16_t>(ram_.at(used_ + 2));
  while (last_used_ != idx) {
    const uint8_t* e = ram_.at(used_ + 4 + 8ull * (last_used_ % num_));
    out.emplace_back(load_le<uint32_t>(e), load_le<uint32_t>(e + 4));
    ++last_used_;
  }
  return out;
}

}  // namespace bridge::vhost_user::test
