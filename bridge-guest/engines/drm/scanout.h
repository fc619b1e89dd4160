// Setting a card up for drawing without a host: pick the first connected connector, its
// preferred mode and a CRTC it can drive, and make dumb-buffer framebuffers of that size. Used
// by the in-guest self-test and the native benchmark (never by the bridge path, where the host
// chooses).
#pragma once

#include <vector>

#include "bridge-guest/engines/drm/drm_device.h"

namespace bridge::guest {

struct Output {
  uint32_t crtc = 0;
  DrmConnectorInfo connector;
  DrmModeInfo mode;
};

struct ScanoutBuffer {
  uint32_t handle = 0, pitch = 0, fb = 0;
};

Result<Output> pick_output(DrmDevice& dev);
Result<ScanoutBuffer> make_scanout_buffer(DrmDevice& dev, uint32_t width, uint32_t height);
std::string mode_text(const DrmModeInfo& m);

}  // namespace bridge::guest
