#include "common/region_allocator.h"

#include <iterator>
#include <string>
#include <utility>

#include "common/shared_region.h"

namespace bridge {

struct RegionLease::Pool {
  explicit Pool(uint64_t size) : size(size) {
    if (size) free[0] = size;
  }

  void give_back(uint64_t offset, uint64_t length) {
    std::lock_guard lock(mutex);
    auto [it, inserted] = free.emplace(offset, length);
    if (!inserted) return;  // double free is a bug elsewhere; never corrupt the list for it
    if (auto next = std::next(it); next != free.end() && it->first + it->second == next->first) {
      it->second += next->second;
      free.erase(next);
    }
    if (it != free.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        free.erase(it);
      }
    }
  }

  const uint64_t size;
  mutable std::mutex mutex;
  std::map<uint64_t, uint64_t> free;  // offset -> length, coalesced
};

RegionLease::RegionLease(std::shared_ptr<Pool> pool, uint64_t offset, uint64_t length)
    : pool_(std::move(pool)), offset_(offset), length_(length) {}

RegionLease::RegionLease(RegionLease&& other) noexcept
    : pool_(std::move(other.pool_)),
      offset_(std::exchange(other.offset_, 0)),
      length_(std::exchange(other.length_, 0)) {}

RegionLease& RegionLease::operator=(RegionLease&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = std::move(other.pool_);
    offset_ = std::exchange(other.offset_, 0);
    length_ = std::exchange(other.length_, 0);
  }
  return *this;
}

RegionLease::~RegionLease() {
  release();
}

void RegionLease::release() {
  if (pool_ && length_) pool_->give_back(offset_, length_);
  pool_.reset();
  offset_ = length_ = 0;
}

bool RegionLease::covers(uint64_t offset, uint64_t length) const {
  return offset >= offset_ && range_within(offset - offset_, length, length_);
}

RegionAllocator::RegionAllocator(uint64_t size)
    : pool_(std::make_shared<RegionLease::Pool>(size / kPage * kPage)) {}

uint64_t RegionAllocator::size() const {
  return pool_->size;
}

uint64_t RegionAllocator::bytes_free() const {
  std::lock_guard lock(pool_->mutex);
  uint64_t total = 0;
  for (const auto& [offset, length] : pool_->free) total += length;
  return total;
}

Result<RegionLease> RegionAllocator::allocate(uint64_t length) {
  if (length == 0 || length > pool_->size)
    return make_error(ENOSPC, "region range of " + std::to_string(length) +
                                  " bytes: the region holds " + std::to_string(pool_->size));
  uint64_t rounded = (length + kPage - 1) / kPage * kPage;
  std::lock_guard lock(pool_->mutex);
  for (auto it = pool_->free.begin(); it != pool_->free.end(); ++it) {
    if (it->second < rounded) continue;
    uint64_t offset = it->first;
    uint64_t rest = it->second - rounded;
    pool_->free.erase(it);
    if (rest) pool_->free.emplace(offset + rounded, rest);
    return RegionLease(pool_, offset, rounded);
  }
  return make_error(ENOSPC, "no free region range of " + std::to_string(rounded) +
                                " bytes (region " + std::to_string(pool_->size) +
                                " bytes, fragmented or in use)");
}

}  // namespace bridge
