// FakeDrmDevice: a test double of DrmDevice over plain memory, for the dispatch checks. It is
// not a simulation of any driver: it records what it was asked and keeps dumb buffers as
// vectors. Real-device behaviour is covered by tests/vm/vm_drm_engine.sh under QEMU.
#pragma once

#include <map>
#include <vector>

#include "bridge-guest/engines/drm/drm_device.h"

namespace bridge::guest {

class FakeDrmDevice : public DrmDevice {
 public:
  static constexpr uint32_t kCrtc = 10, kConnector = 20, kMaxSide = 4096;

  struct Call {  // the last modeset / dirty / flip it saw
    uint32_t crtc = 0, fb = 0;
    std::vector<PixelRect> rects;
    uint64_t cookie = 0;
  };

  FakeDrmDevice() {
    caps_.driver = "fake";
    caps_.description = "FakeDrmDevice (memory)";
    caps_.dumb_buffer = true;
    caps_.cursor_width = caps_.cursor_height = 64;
    caps_.preferred_depth = 24;
  }

  const DrmCapsInfo& caps() const override { return caps_; }
  Result<DrmResourcesInfo> resources() override {
    DrmResourcesInfo r;
    r.crtcs = {kCrtc};
    r.connectors = {kConnector};
    r.encoders = {30};
    r.planes = {40};
    r.max_width = r.max_height = kMaxSide;
    return r;
  }
  Result<DrmConnectorInfo> connector(uint32_t id) override {
    DrmConnectorInfo c;
    c.id = id;
    c.connected = true;
    c.name = "Virtual-1";
    c.possible_crtcs = 1;
    DrmModeInfo m;
    m.name = "640x480";
    m.hdisplay = 640, m.vdisplay = 480, m.vrefresh = 60;
    c.modes = {m};
    return c;
  }
  Result<DrmCrtcInfo> crtc(uint32_t id) override {
    return DrmCrtcInfo{id, last_modeset.fb, 0, 0, {}};
  }
  Result<std::vector<DrmPlaneInfo>> planes() override {
    return std::vector<DrmPlaneInfo>{{40, 1, kCrtc, 0, 1, {0x34325258}}};
  }
  Result<DumbInfo> create_dumb(uint32_t width, uint32_t height, uint32_t bpp) override {
    DumbInfo d{next_handle++, (width * bpp / 8 + 63) / 64 * 64, 0};
    d.size = uint64_t{d.pitch} * height;
    dumbs[d.handle].assign(d.size, std::byte{0});
    return d;
  }
  Status destroy_dumb(uint32_t handle) override {
    if (dumbs.erase(handle) == 0) return make_error(ENOENT, "fake: no dumb");
    return {};
  }
  Result<std::span<std::byte>> dumb_pixels(uint32_t handle) override {
    auto it = dumbs.find(handle);
    if (it == dumbs.end()) return make_error(ENOENT, "fake: no dumb");
    return std::span<std::byte>(it->second);
  }
  Result<uint32_t> add_framebuffer(uint32_t, uint32_t, uint32_t, uint32_t, uint32_t) override {
    framebuffers.push_back(next_fb);
    return next_fb++;
  }
  Status remove_framebuffer(uint32_t fb) override {
    std::erase(framebuffers, fb);
    return {};
  }
  Status set_crtc(uint32_t crtc, uint32_t fb, uint32_t, uint32_t, std::span<const uint32_t>,
                  const std::optional<DrmModeInfo>&) override {
    last_modeset = Call{crtc, fb, {}, 0};
    return {};
  }
  Status dirty(uint32_t fb, std::span<const PixelRect> rects) override {
    ++dirty_calls;
    last_dirty = Call{0, fb, {rects.begin(), rects.end()}, 0};
    return {};
  }
  Status page_flip(uint32_t crtc, uint32_t fb, uint64_t cookie) override {
    last_flip = Call{crtc, fb, {}, cookie};
    return {};
  }
  Status request_vblank(uint32_t, uint64_t) override {
    return make_error(ENOTSUP, "fake: no vblank");
  }
  Status set_cursor(uint32_t, uint32_t width, uint32_t, int32_t, int32_t,
                    std::span<const std::byte> argb) override {
    cursor_bytes = width == 0 ? 0 : argb.size();
    return {};
  }
  Status move_cursor(uint32_t, int32_t, int32_t) override { return {}; }
  void start_events(DrmEventSink s) override { sink = std::move(s); }

  DrmCapsInfo caps_;
  std::map<uint32_t, std::vector<std::byte>> dumbs;
  std::vector<uint32_t> framebuffers;
  uint32_t next_handle = 1, next_fb = 100;
  Call last_modeset, last_dirty, last_flip;
  int dirty_calls = 0;
  std::size_t cursor_bytes = 0;
  DrmEventSink sink;
};

}  // namespace bridge::guest
