// DrmDevice: what bridge-guest needs from a DRM/KMS card, in plain types (no libdrm structs), so
// the dispatch layer can be tested against a fake over memory. The real implementation is
// CardDevice (card_device.h, libdrm on /dev/dri/cardN).
//
// Threading: request methods are called on the export's strand (one at a time). Events are
// delivered on the device's own event thread through the sink given to start_events().
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace bridge::guest {

struct DrmCapsInfo {
  std::string driver;       // kernel driver name: "bochs-drm", "virtio_gpu"
  std::string description;  // the driver's own description
  bool dumb_buffer = false;
  uint32_t cursor_width = 0;
  uint32_t cursor_height = 0;
  bool async_flip = false;
  bool vblank = false;  // the driver delivers real vblank events
  uint32_t preferred_depth = 0;
};

struct DrmResourcesInfo {
  std::vector<uint32_t> crtcs, connectors, encoders, planes, framebuffers;
  uint32_t min_width = 0, max_width = 0, min_height = 0, max_height = 0;
};

struct DrmModeInfo {
  std::string name;
  uint32_t clock = 0;
  uint16_t hdisplay = 0, hsync_start = 0, hsync_end = 0, htotal = 0, hskew = 0;
  uint16_t vdisplay = 0, vsync_start = 0, vsync_end = 0, vtotal = 0, vscan = 0;
  uint32_t vrefresh = 0, flags = 0, type = 0;
};

struct DrmConnectorInfo {
  uint32_t id = 0, type = 0;
  bool connected = false;
  std::vector<DrmModeInfo> modes;
  uint32_t width_mm = 0, height_mm = 0;
  std::string name;  // "Virtual-1"
  uint32_t encoder = 0;
  uint32_t possible_crtcs = 0;  // bit i: crtcs[i] of the resources
};

struct DrmCrtcInfo {
  uint32_t id = 0, framebuffer = 0, x = 0, y = 0;
  std::optional<DrmModeInfo> mode;
};

struct DrmPlaneInfo {
  uint32_t id = 0, possible_crtcs = 0, crtc = 0, framebuffer = 0, type = 0;
  std::vector<uint32_t> formats;
};

struct DumbInfo {
  uint32_t handle = 0, pitch = 0;
  uint64_t size = 0;
};

// A rectangle already clipped to its framebuffer.
struct PixelRect {
  uint32_t x = 0, y = 0, width = 0, height = 0;
};

struct DrmEvent {
  enum class Kind { flip_done, vblank, hotplug };
  Kind kind = Kind::flip_done;
  uint32_t crtc = 0;      // flip_done, vblank
  uint64_t sequence = 0;  // flip_done, vblank
  uint64_t timestamp_ns = 0;
  uint64_t cookie = 0;     // the request's cookie
  uint32_t connector = 0;  // hotplug: whose status changed
};

using DrmEventSink = std::function<void(const DrmEvent&)>;

class DrmDevice {
 public:
  virtual ~DrmDevice() = default;

  virtual const DrmCapsInfo& caps() const = 0;
  virtual Result<DrmResourcesInfo> resources() = 0;
  virtual Result<DrmConnectorInfo> connector(uint32_t id) = 0;
  virtual Result<DrmCrtcInfo> crtc(uint32_t id) = 0;
  virtual Result<std::vector<DrmPlaneInfo>> planes() = 0;

  // A dumb buffer, mapped for the lifetime of the buffer.
  virtual Result<DumbInfo> create_dumb(uint32_t width, uint32_t height, uint32_t bpp) = 0;
  virtual Status destroy_dumb(uint32_t handle) = 0;
  // The CPU mapping of a dumb buffer this device created (size bytes).
  virtual Result<std::span<std::byte>> dumb_pixels(uint32_t handle) = 0;

  virtual Result<uint32_t> add_framebuffer(uint32_t width, uint32_t height, uint32_t format,
                                           uint32_t handle, uint32_t pitch) = 0;
  virtual Status remove_framebuffer(uint32_t fb) = 0;
  // fb 0 (and no mode) disables the CRTC.
  virtual Status set_crtc(uint32_t crtc, uint32_t fb, uint32_t x, uint32_t y,
                          std::span<const uint32_t> connectors,
                          const std::optional<DrmModeInfo>& mode) = 0;
  // Tells the driver what changed. Drivers that scan the buffer out directly (bochs) answer
  // ENOSYS/EOPNOTSUPP, which callers treat as success.
  virtual Status dirty(uint32_t fb, std::span<const PixelRect> rects) = 0;
  // Completion arrives as a flip_done event with `cookie`.
  virtual Status page_flip(uint32_t crtc, uint32_t fb, uint64_t cookie) = 0;
  // One vblank event with `cookie` at the next vblank; ENOTSUP when caps().vblank is false.
  virtual Status request_vblank(uint32_t crtc, uint64_t cookie) = 0;
  // argb: width*height ARGB8888 pixels, tightly packed; width 0 hides the cursor.
  virtual Status set_cursor(uint32_t crtc, uint32_t width, uint32_t height, int32_t hot_x,
                            int32_t hot_y, std::span<const std::byte> argb) = 0;
  virtual Status move_cursor(uint32_t crtc, int32_t x, int32_t y) = 0;

  // Starts delivering events (flip completions, vblanks, hotplug) to `sink`, from the device's
  // event thread. Called once; the sink must stay callable until the device is destroyed.
  virtual void start_events(DrmEventSink sink) = 0;
};

}  // namespace bridge::guest
