#include "bridge-guest/engines/drm/scanout.h"

#include <string>

namespace bridge::guest {
namespace {
constexpr uint32_t kModeTypePreferred = 1 << 3;  // DRM_MODE_TYPE_PREFERRED
constexpr uint32_t kXrgb8888 = 0x34325258;
}  // namespace

std::string mode_text(const DrmModeInfo& m) {
  return m.name + " " + std::to_string(m.hdisplay) + "x" + std::to_string(m.vdisplay) + "@" +
         std::to_string(m.vrefresh) + ((m.type & kModeTypePreferred) ? " preferred" : "");
}

Result<Output> pick_output(DrmDevice& dev) {
  auto res = dev.resources();
  if (!res) return res.error();
  for (uint32_t id : res->connectors) {
    auto c = dev.connector(id);
    if (!c) return c.error();
    if (!c->connected || c->modes.empty()) continue;
    Output out{0, *c, c->modes.front()};
    for (const auto& m : c->modes) {
      if (m.type & kModeTypePreferred) {
        out.mode = m;
        break;
      }
    }
    for (std::size_t i = 0; i < res->crtcs.size() && i < 32; ++i) {
      if (c->possible_crtcs & (1u << i)) {
        out.crtc = res->crtcs[i];
        return out;
      }
    }
  }
  return make_error(ENODEV, "no connected connector with a mode and a CRTC");
}

Result<ScanoutBuffer> make_scanout_buffer(DrmDevice& dev, uint32_t width, uint32_t height) {
  auto dumb = dev.create_dumb(width, height, 32);
  if (!dumb) return dumb.error();
  auto fb = dev.add_framebuffer(width, height, kXrgb8888, dumb->handle, dumb->pitch);
  if (!fb) {
    (void)dev.destroy_dumb(dumb->handle);
    return fb.error();
  }
  return ScanoutBuffer{dumb->handle, dumb->pitch, *fb};
}

}  // namespace bridge::guest
