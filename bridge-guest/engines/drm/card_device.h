// CardDevice: DrmDevice on a real card (/dev/dri/cardN) through libdrm. Owns the card fd, the
// dumb buffers it created (mapped while they live), the cursor buffer, and an event thread that
// polls the card fd (page-flip and vblank completions through drmHandleEvent) and a
// NETLINK_KOBJECT_UEVENT socket (DRM hotplug), stopped through an eventfd on destruction.
//
// Why a thread of its own rather than the session's io_context: the device outlives host
// connections, libdrm's drmHandleEvent is a blocking-style read on the card fd, and the engine
// stays free of Asio (bridge_guest_core is also built for the fuzzer). The thread only reads
// the card fd and calls the sink; ioctls from the strand and from it are safe concurrently.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "bridge-guest/engines/drm/drm_device.h"
#include "common/unique_fd.h"

namespace bridge::guest {

class CardDevice final : public DrmDevice {
 public:
  // Opens the card, reads its caps and becomes DRM master (a warning, not a failure, when
  // another process holds it: queries still work, modesets will fail with EACCES).
  static Result<std::unique_ptr<CardDevice>> open(const std::string& path);
  // "auto": the first /dev/dri/cardN with a connected connector.
  static Result<std::string> find_auto();

  ~CardDevice() override;
  CardDevice(const CardDevice&) = delete;
  CardDevice& operator=(const CardDevice&) = delete;

  const std::string& path() const { return path_; }

  const DrmCapsInfo& caps() const override { return caps_; }
  Result<DrmResourcesInfo> resources() override;
  Result<DrmConnectorInfo> connector(uint32_t id) override;
  Result<DrmCrtcInfo> crtc(uint32_t id) override;
  Result<std::vector<DrmPlaneInfo>> planes() override;
  Result<DumbInfo> create_dumb(uint32_t width, uint32_t height, uint32_t bpp) override;
  Status destroy_dumb(uint32_t handle) override;
  Result<std::span<std::byte>> dumb_pixels(uint32_t handle) override;
  Result<uint32_t> add_framebuffer(uint32_t width, uint32_t height, uint32_t format,
                                   uint32_t handle, uint32_t pitch) override;
  Status remove_framebuffer(uint32_t fb) override;
  Status set_crtc(uint32_t crtc, uint32_t fb, uint32_t x, uint32_t y,
                  std::span<const uint32_t> connectors,
                  const std::optional<DrmModeInfo>& mode) override;
  Status dirty(uint32_t fb, std::span<const PixelRect> rects) override;
  Status page_flip(uint32_t crtc, uint32_t fb, uint64_t cookie) override;
  Status request_vblank(uint32_t crtc, uint64_t cookie) override;
  Status set_cursor(uint32_t crtc, uint32_t width, uint32_t height, int32_t hot_x, int32_t hot_y,
                    std::span<const std::byte> argb) override;
  Status move_cursor(uint32_t crtc, int32_t x, int32_t y) override;
  void start_events(DrmEventSink sink) override;

 private:
  struct Mapping {  // one mmap of a dumb buffer; unmapped by destroy_dumb / the destructor
    std::byte* base = nullptr;
    uint64_t size = 0;
  };

  CardDevice(UniqueFd fd, std::string path);
  Status init_caps();
  Status destroy_dumb_locked(uint32_t handle);
  Result<int> crtc_index(uint32_t crtc);
  Status ensure_cursor_buffer();

  // Event thread (card_events.cpp).
  void event_loop();
  void handle_uevent();
  void emit(const DrmEvent& event);
  static void on_page_flip(int fd, unsigned sequence, unsigned sec, unsigned usec, unsigned crtc_id,
                           void* user);
  static void on_vblank(int fd, unsigned sequence, unsigned sec, unsigned usec, void* user);

  UniqueFd fd_;
  std::string path_;
  DrmCapsInfo caps_;
  std::map<uint32_t, Mapping> dumbs_;  // strand only
  uint32_t cursor_handle_ = 0;  // the cursor-size (64x64) ARGB dumb buffer, made on first use
  uint32_t cursor_pitch_ = 0;
  bool dirty_noted_ = false;  // logged once that the driver has no dirty (bochs)

  UniqueFd uevent_fd_;  // NETLINK_KOBJECT_UEVENT; invalid when the socket was refused
  UniqueFd stop_fd_;    // eventfd: the destructor wakes the event thread with it
  std::thread events_;
  DrmEventSink sink_;  // set once before the thread starts; called only on the thread
  std::map<uint32_t, bool> connected_;  // event thread only: last seen connector status

  std::mutex vblank_mu_;  // guards vblank_waits_ and next_vblank_token_; leaf lock
  std::unordered_map<uint64_t, std::pair<uint32_t, uint64_t>>
      vblank_waits_;  // token -> crtc, cookie
  uint64_t next_vblank_token_ = 1;
};

// The export name for a display export named just "display": display.<driver>, with the
// kernel driver name mapped to a short scheme-safe form (bochs-drm -> bochs,
// virtio_gpu -> virtio-gpu; otherwise '_' -> '-' and a "-drm" suffix dropped).
std::string display_scheme_name(const std::string& driver);

}  // namespace bridge::guest
