// Handles on the wire are opaque, generation-checked table indices, never pointers.
//
//   bits 63..48  boot tag   (differs between process starts: handles from an earlier run fail)
//   bits 47..32  generation (bumped each time a slot is freed: a closed handle never comes back)
//   bits 31..0   slot index
//
// Values are shared_ptr so that a call running on one thread keeps its object alive while
// another thread closes the handle. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "common/result.h"

namespace bridge {

template <typename T>
class HandleTable {
 public:
  explicit HandleTable(uint16_t boot_tag, uint32_t capacity = 65536)
      : boot_tag_(boot_tag), capacity_(capacity) {}

  Result<uint64_t> insert(std::shared_ptr<T> value) {
    std::lock_guard lock(mu_);
    uint32_t index;
    if (!free_.empty()) {
      index = free_.back();
      free_.pop_back();
    } else if (slots_.size() < capacity_) {
      index = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    } else {
      return make_error(EMFILE, "too many open handles (" + std::to_string(capacity_) + ")");
    }
    slots_[index].value = std::move(value);
    return encode(index, slots_[index].generation);
  }

  // Null for a handle that is unknown, closed, or from another boot.
  std::shared_ptr<T> find(uint64_t handle) const {
    std::lock_guard lock(mu_);
    const Slot* slot = locate(handle);
    return slot ? slot->value : nullptr;
  }

  std::shared_ptr<T> remove(uint64_t handle) {
    std::lock_guard lock(mu_);
    Slot* slot = const_cast<Slot*>(locate(handle));
    if (!slot) return nullptr;
    return release(*slot, static_cast<uint32_t>(handle));
  }

  // Drops every handle (the peer went away); their objects close when the last user lets go.
  std::vector<std::shared_ptr<T>> clear() {
    std::lock_guard lock(mu_);
    std::vector<std::shared_ptr<T>> dropped;
    for (uint32_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].value) dropped.push_back(release(slots_[i], i));
    }
    return dropped;
  }

  std::size_t size() const {
    std::lock_guard lock(mu_);
    return slots_.size() - free_.size();
  }

 private:
  struct Slot {
    std::shared_ptr<T> value;
    uint16_t generation = 1;
  };

  uint64_t encode(uint32_t index, uint16_t generation) const {
    return (uint64_t{boot_tag_} << 48) | (uint64_t{generation} << 32) | index;
  }

  const Slot* locate(uint64_t handle) const {
    const auto index = static_cast<uint32_t>(handle);
    if ((handle >> 48) != boot_tag_ || index >= slots_.size()) return nullptr;
    const Slot& slot = slots_[index];
    if (!slot.value || static_cast<uint16_t>(handle >> 32) != slot.generation) return nullptr;
    return &slot;
  }

  std::shared_ptr<T> release(Slot& slot, uint32_t index) {
    auto value = std::move(slot.value);
    slot.value.reset();
    ++slot.generation;
    free_.push_back(index);
    return value;
  }

  const uint16_t boot_tag_;
  const uint32_t capacity_;
  mutable std::mutex mu_;  // guards slots_ and free_
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
};

}  // namespace bridge
