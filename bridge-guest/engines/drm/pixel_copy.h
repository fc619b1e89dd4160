// Copying damaged rectangles of a 32-bpp image from one buffer to another with different row
// pitches (the host's shadow framebuffer -> the guest's dumb buffer). Shared by the drm
// dispatch, the in-guest self-test and the native benchmark, so they measure the same code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "bridge-guest/engines/drm/drm_device.h"
#include "common/result.h"

namespace bridge::guest {

inline constexpr uint32_t kBytesPerPixel = 4;  // XRGB8888 / ARGB8888: the only formats served

// A 32-bpp image: `bytes` holds `height` rows of `pitch` bytes.
struct PixelImage {
  std::span<std::byte> bytes;
  uint32_t width = 0, height = 0, pitch = 0;
};
struct ConstPixelImage {
  std::span<const std::byte> bytes;
  uint32_t width = 0, height = 0, pitch = 0;
};

// Checks that an image of width x height at `pitch` fits in `size` bytes: pitch >= width * 4
// and pitch * height <= size, without overflow. EINVAL / EFAULT with context.
Status check_image(uint64_t size, uint32_t width, uint32_t height, uint32_t pitch,
                   const char* what);

// The part of (x, y, w, h) inside a width x height image; nullopt when nothing is left.
// Overflow-safe for any 32-bit inputs.
std::optional<PixelRect> clip_rect(uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint32_t width,
                                   uint32_t height);

// Copies each rect (already clipped to both images) row by row. Both images must have passed
// check_image for their sizes.
void copy_rects(ConstPixelImage src, PixelImage dst, std::span<const PixelRect> rects);

}  // namespace bridge::guest
