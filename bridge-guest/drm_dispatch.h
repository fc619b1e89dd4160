// Display requests (drm exports): decode a wire::DrmReq, check everything the host sent
// against what this export listed or created, run it on the DrmDevice, encode the DrmReply.
// Pixels come from the host's shadow framebuffer in the shared region (RegionRef + pitch) and
// are copied row by row into the dumb buffer behind the framebuffer, then flushed with dirty.
//
// Runs on the export's strand (not parallel): the object tables need no lock. Events come from
// the device's event thread and go out through the sink the session sets.
#pragma once

#include <capnp/message.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "bridge-guest/engines/drm/drm_device.h"
#include "common/result.h"
#include "common/shared_region.h"
#include "schema/bridge.capnp.h"

namespace bridge::guest {

// Sends one encoded frame (an Event message) to the host; must be callable from any thread.
using FrameSink = std::function<void(kj::Array<capnp::word>)>;

class DrmDispatch {
 public:
  // Bounds on what one host may create through one export (guest memory is finite).
  static constexpr std::size_t kDumbMax = 64;
  static constexpr std::size_t kFramebufferMax = 64;
  static constexpr std::size_t kRectsMax = 1024;

  explicit DrmDispatch(std::unique_ptr<DrmDevice> device);
  ~DrmDispatch();
  DrmDispatch(const DrmDispatch&) = delete;
  DrmDispatch& operator=(const DrmDispatch&) = delete;

  DrmDevice& device() { return *device_; }

  // `region` is the connection's shared region, or null: requests that carry pixels then get
  // ENOTSUP. Per request, because each host connection brings its own (a memfd in local mode).
  Status handle(wire::DrmReq::Reader request, wire::Response::Builder response,
                const SharedRegion* region);

  // Starts the device's events; they are sent tagged with `export_index`.
  void start_events(uint16_t export_index);
  // Where events go (null: dropped, e.g. while no host is connected). Any thread.
  void set_event_sink(FrameSink sink);

  // The host connection ended: framebuffers and dumb buffers it made through this export go.
  void release_all();

 private:
  struct Dumb {
    uint32_t width, height, pitch;
    uint64_t size;
  };
  struct Framebuffer {
    uint32_t handle, width, height, pitch;
  };
  using Rects = capnp::List<wire::Rect>::Reader;

  Status refresh_objects();
  Status need_crtc(uint32_t id) const;
  Status need_connector(uint32_t id) const;
  Result<const Framebuffer*> need_framebuffer(uint32_t id) const;
  Status copy_damage(const SharedRegion* region, const Framebuffer& fb, Rects rects,
                     wire::RegionRef::Reader pixels, uint32_t pitch,
                     std::vector<PixelRect>& damaged);

  Status get_resources(wire::DrmReply::Builder reply);
  Status create_dumb(wire::DumbReq::Reader r, wire::DrmReply::Builder reply);
  Status destroy_dumb(uint32_t handle);
  Status add_framebuffer(wire::FramebufferReq::Reader r, wire::DrmReply::Builder reply);
  Status remove_framebuffer(uint32_t fb);
  Status set_crtc(wire::SetCrtcReq::Reader r);
  Status dirty(wire::DirtyReq::Reader r, const SharedRegion* region);
  Status page_flip(wire::PageFlipReq::Reader r, const SharedRegion* region);
  Status set_cursor(wire::CursorReq::Reader r, const SharedRegion* region);
  void send_event(const DrmEvent& event);

  std::unique_ptr<DrmDevice> device_;
  uint16_t export_index_ = 0;
  // What the device listed (refreshed by getResources) and what the host created here.
  std::set<uint32_t> crtcs_, connectors_;
  uint32_t max_width_ = 0, max_height_ = 0;
  bool listed_ = false;
  std::map<uint32_t, Dumb> dumbs_;
  std::map<uint32_t, Framebuffer> framebuffers_;

  std::mutex sink_mu_;  // guards sink_ (set by the session, used by the event thread); leaf lock
  FrameSink sink_;
};

}  // namespace bridge::guest
