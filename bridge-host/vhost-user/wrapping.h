// Wrap32: a u32 counter that wraps by design (virtio-vsock credit: buf_alloc, fwd_cnt, tx_cnt
// run modulo 2^32 for the life of a connection). Only + and - exist, both modulo 2^32, so a
// reader can tell these counters from sizes that must never wrap (those use checked
// arithmetic).
#pragma once

#include <cstdint>

namespace bridge::vhost_user {

class Wrap32 {
 public:
  constexpr Wrap32() = default;
  constexpr explicit Wrap32(uint32_t v) : v_(v) {}
  constexpr uint32_t value() const { return v_; }
  constexpr Wrap32 operator+(uint32_t n) const { return Wrap32(static_cast<uint32_t>(v_ + n)); }
  constexpr Wrap32& operator+=(uint32_t n) {
    v_ = static_cast<uint32_t>(v_ + n);
    return *this;
  }
  // Distance from `earlier` to this counter, modulo 2^32.
  constexpr uint32_t operator-(Wrap32 earlier) const {
    return static_cast<uint32_t>(v_ - earlier.v_);
  }
  constexpr bool operator==(const Wrap32&) const = default;

 private:
  uint32_t v_ = 0;
};

}  // namespace bridge::vhost_user
