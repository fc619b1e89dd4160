// Little-endian loads and stores for wire formats (virtio 1.x rings, virtio_vsock_hdr, vhost-user
// messages are all little-endian). Bytes are copied with memcpy, so any alignment is fine and no
// pointer is ever reinterpreted.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace bridge::vhost_user {

template <typename T>
inline T from_le(T v) {
  if constexpr (std::endian::native == std::endian::big) {
    if constexpr (sizeof(T) == 2) return static_cast<T>(__builtin_bswap16(v));
    if constexpr (sizeof(T) == 4) return static_cast<T>(__builtin_bswap32(v));
    if constexpr (sizeof(T) == 8) return static_cast<T>(__builtin_bswap64(v));
  }
  return v;
}
template <typename T>
inline T to_le(T v) {
  return from_le(v);  // a byte swap is its own inverse
}

template <typename T>
inline T load_le(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return from_le(v);
}
template <typename T>
inline void store_le(uint8_t* p, T v) {
  v = to_le(v);
  std::memcpy(p, &v, sizeof v);
}

}  // namespace bridge::vhost_user
