#include "bridge-guest/engines/drm/pixel_copy.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <string>

namespace bridge::guest {

Status check_image(uint64_t size, uint32_t width, uint32_t height, uint32_t pitch,
                   const char* what) {
  const uint64_t row = uint64_t{width} * kBytesPerPixel;  // < 2^34: no overflow
  if (pitch < row)
    return make_error(EINVAL, std::string(what) + ": pitch " + std::to_string(pitch) +
                                  " is less than width " + std::to_string(width) + " * 4");
  if (width == 0 || height == 0) return {};
  // pitch * height of two 32-bit factors is below 2^64: no overflow.
  const uint64_t need = uint64_t{height} * pitch;
  if (need > size)
    return make_error(EFAULT, std::string(what) + ": " + std::to_string(height) +
                                  " rows at pitch " + std::to_string(pitch) + " need " +
                                  std::to_string(need) + " bytes, only " + std::to_string(size) +
                                  " available");
  return {};
}

std::optional<PixelRect> clip_rect(uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint32_t width,
                                   uint32_t height) {
  if (x >= width || y >= height || w == 0 || h == 0) return std::nullopt;
  PixelRect r{x, y, std::min(w, width - x), std::min(h, height - y)};
  return r;
}

void copy_rects(ConstPixelImage src, PixelImage dst, std::span<const PixelRect> rects) {
  for (const auto& r : rects) {
    assert(r.x + r.width <= src.width && r.y + r.height <= src.height);
    assert(r.x + r.width <= dst.width && r.y + r.height <= dst.height);
    const std::size_t bytes = std::size_t{r.width} * kBytesPerPixel;
    const std::size_t col = std::size_t{r.x} * kBytesPerPixel;
    for (uint32_t row = r.y; row < r.y + r.height; ++row) {
      std::memcpy(dst.bytes.data() + std::size_t{row} * dst.pitch + col,
                  src.bytes.data() + std::size_t{row} * src.pitch + col, bytes);
    }
  }
}

}  // namespace bridge::guest
