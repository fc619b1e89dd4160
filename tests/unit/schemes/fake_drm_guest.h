// FakeDrmGuest: a SIMULATED guest DRM export (there is no DRM device on this host). A
// GuestChannel test double that answers DrmReq like a one-CRTC, one-connector device with modes
// 1024x768 (preferred) and 800x600, keeps a dumb buffer per handle in its own pitch, and applies
// dirty and page flips by copying the named rectangles out of the shared region (a memfd
// SharedRegion) exactly as bridge-guest's drm engine does. Flip completions arrive as
// Event.flipDone from a thread of the fake's own, as a real guest link's I/O thread would.
// Every request and answer goes through frame encode/decode, so the scheme reads what a socket
// would have carried. `hostile` lets a test replace any answer.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "schemes/guest_channel.h"

namespace bridge::test {

class FakeDrmGuest : public GuestChannel {
 public:
  static constexpr uint32_t kCrtc = 31;
  static constexpr uint32_t kConnector = 37;

  explicit FakeDrmGuest(bool with_region = true, uint64_t region_size = 32ull << 20);
  ~FakeDrmGuest() override;

  void submit(std::unique_ptr<capnp::MallocMessageBuilder> message, Completion done) override;
  Result<frame::Frame> call(std::unique_ptr<capnp::MallocMessageBuilder> message) override;
  std::shared_ptr<GuestRegion> region() override { return region_; }
  void on_event(uint16_t export_index, EventHandler handler) override;

  // Replaces the answer to a request when it returns true (it filled `response`).
  using Hostile = std::function<bool(wire::DrmReq::Reader, wire::Response::Builder)>;
  void set_hostile(Hostile hostile);
  void set_flip_done(bool send) { send_flip_done_ = send; }
  // Queues an event for delivery on the event thread; `fill` builds it.
  void emit(std::function<void(wire::Event::Builder)> fill);
  // Returns once every queued event's handler has returned. Call it before dropping the last
  // reference a test holds: a handler that holds the scheme, which holds this fake, must not
  // be the one that destroys it (on its own event thread).
  void wait_events_delivered();

  // What the "screen" shows: the dumb buffer behind the CRTC's framebuffer, as XRGB pixels.
  uint32_t scanout(uint32_t x, uint32_t y) const;
  uint32_t shown_framebuffer() const;
  uint32_t shown_width() const;
  std::size_t live_dumbs() const;
  std::size_t live_framebuffers() const;
  std::size_t requests() const;

 private:
  struct Dumb {
    uint32_t width = 0, height = 0, pitch = 0;
    std::vector<uint32_t> pixels;
  };
  void answer(wire::DrmReq::Reader req, wire::Response::Builder resp);
  void add_connector(wire::DrmConnector::Builder c) const;
  bool copy_rects(uint32_t fb, capnp::List<wire::Rect>::Reader rects, wire::RegionRef::Reader px,
                  uint32_t pitch);
  void event_loop();

  std::shared_ptr<GuestRegion> region_;
  mutable std::mutex mu_;  // guards the device state below and hostile_
  Hostile hostile_;
  std::map<uint32_t, Dumb> dumbs_;
  std::map<uint32_t, uint32_t> framebuffers_;  // fb id -> dumb handle
  uint32_t next_id_ = 100;
  uint32_t shown_fb_ = 0;
  std::size_t requests_ = 0;
  std::atomic<bool> send_flip_done_ = true;

  std::mutex events_mu_;  // guards the event queue, handlers_ and stop_
  std::condition_variable events_cv_;
  std::deque<kj::Array<capnp::word>> events_;
  std::size_t in_delivery_ = 0;
  std::map<uint16_t, EventHandler> handlers_;
  bool stop_ = false;
  std::thread event_thread_;
};

}  // namespace bridge::test
