// A display scheme (`display.<driver>`) served by a guest's DRM export. Clients never talk DRM:
// they ask for info, attach (become the one owner), draw into host-side shadow framebuffers in
// the shared region, and send damage or flips; this object turns that into DrmReq calls on the
// guest's channel.
//
// Trust: the guest is hostile. Every answer is checked before it is believed: the reply kind,
// list lengths (bounded), object ids (only those the guest itself listed), mode timings (sane
// and small enough for the region), strings (bounded). A bad answer is EIO and never a crash.
//
// Ownership: one owner at a time, named by an opaque OwnerId the frontend picks per client
// connection. A second attach is EBUSY naming the owner's pid; detach (or the frontend calling
// it when a client goes) frees everything in the guest and releases the region leases.
//
// Threading: client operations may run on any thread except the channel's I/O thread (they
// block on guest answers); they are serialized by ops_mu_. Guest events arrive on the I/O
// thread and take only event_mu_ (never ops_mu_), so a flip waiting for its flipDone cannot
// deadlock the thread that delivers it.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "common/region_allocator.h"
#include "common/result.h"
#include "schemes/guest_channel.h"

namespace bridge {

// Bounds on what a guest may describe. Real hardware has a handful of each.
struct DisplayLimits {
  static constexpr unsigned kCrtcsMax = 16;
  static constexpr unsigned kConnectorsMax = 16;
  static constexpr unsigned kModesMax = 256;
  static constexpr unsigned kNameMax = 32;    // DRM_DISPLAY_MODE_LEN / connector names
  static constexpr unsigned kDriverMax = 64;  // driver name shown to clients
  static constexpr unsigned kRectsMax = 256;  // damage rectangles in one request
  static constexpr unsigned kDimensionMax = 8192;
  static constexpr unsigned kCursorMax = 256;
};

// One display mode with every timing the guest gave, so the modeset sends it back unchanged.
struct DisplayMode {
  std::string name;
  uint32_t clock = 0;
  uint16_t hdisplay = 0, hsync_start = 0, hsync_end = 0, htotal = 0;
  uint16_t vdisplay = 0, vsync_start = 0, vsync_end = 0, vtotal = 0;
  uint32_t vrefresh = 0, flags = 0, type = 0;

  bool preferred() const { return (type & (1u << 3)) != 0; }  // DRM_MODE_TYPE_PREFERRED
};

struct ConnectorInfo {
  uint32_t id = 0;
  std::string name;
  bool connected = false;
  uint32_t possible_crtcs = 0;
  std::vector<DisplayMode> modes;
};

struct DisplayInfo {
  std::string driver;
  uint32_t cursor_width = 0, cursor_height = 0;
  std::vector<uint32_t> crtcs;
  std::vector<ConnectorInfo> connectors;
};

struct DisplayRect {
  uint32_t x = 0, y = 0, width = 0, height = 0;
};

// A shadow buffer in the shared region: what a client maps and draws into.
struct ShadowBuffer {
  uint64_t offset = 0, length = 0;  // page-aligned lease in the region
  uint32_t pitch = 0, width = 0, height = 0;
};

struct Attachment {
  DisplayMode mode;
  uint32_t connector = 0;
  std::array<ShadowBuffer, 2> buffers;  // XRGB8888, pitch = width * 4
  ShadowBuffer cursor;                  // ARGB8888, cursor_width x cursor_height
};

struct Owner {
  uint64_t id = 0;  // opaque, unique per client connection
  pid_t pid = 0;    // for the EBUSY message
};

class RemoteDisplayScheme : public std::enable_shared_from_this<RemoteDisplayScheme> {
 public:
  using OwnerId = uint64_t;
  using HotplugListener = std::function<void(uint32_t connector)>;

  // Registers for the export's events on `channel`; the handler holds only a weak reference.
  static std::shared_ptr<RemoteDisplayScheme> create(std::shared_ptr<GuestChannel> channel,
                                                     uint16_t export_index, std::string name);

  const std::string& name() const { return name_; }
  // The region clients map (its fd) when attached; null without one.
  std::shared_ptr<GuestRegion> region() const { return channel_->region(); }

  Result<DisplayInfo> info();
  // `want` is a width x height among the connector's modes; none: the preferred mode.
  Result<Attachment> attach(Owner owner, std::optional<std::pair<uint32_t, uint32_t>> want);
  Status damage(OwnerId owner, unsigned buffer, std::span<const DisplayRect> rects);
  // Shows `buffer` and waits until the guest reports the flip done (or the deadline passes).
  Status flip(OwnerId owner, unsigned buffer, std::span<const DisplayRect> rects);
  // Cursor pixels are in the attachment's cursor buffer; 0 x 0 hides the cursor.
  Status set_cursor(OwnerId owner, uint32_t width, uint32_t height, int32_t hot_x, int32_t hot_y);
  Status move_cursor(OwnerId owner, int32_t x, int32_t y);
  // Frees everything in the guest; a no-op for anyone but the owner.
  Status detach(OwnerId owner);
  std::optional<Owner> owner() const;

  // Listeners hear hotplug on the channel's I/O thread, under event_mu_: they must not block
  // or call back into this object. After remove_hotplug_listener() returns, the listener is
  // not running and will not run again.
  uint64_t add_hotplug_listener(HotplugListener listener);
  void remove_hotplug_listener(uint64_t id);

  // Guest events for this export (flipDone, hotplug); anything else is counted and dropped.
  void on_event(wire::Event::Reader event);
  uint64_t refused_events() const;
  void set_flip_timeout(std::chrono::milliseconds timeout) { flip_timeout_ = timeout; }

  ~RemoteDisplayScheme();

 private:
  struct Session;  // everything one attachment made in the guest and the region

  RemoteDisplayScheme(std::shared_ptr<GuestChannel> channel, uint16_t export_index,
                      std::string name);
  template <typename Fill>
  Result<frame::Frame> call(Fill&& fill);
  Result<DisplayInfo> query_info();
  Status build_session(Session& s, const DisplayInfo& info, const ConnectorInfo& connector,
                       const DisplayMode& mode);
  void teardown(Session& s);
  Result<Session*> owned_by(OwnerId owner);
  Status send_rects(OwnerId owner, unsigned buffer, std::span<const DisplayRect> rects, bool flip);

  std::shared_ptr<GuestChannel> channel_;
  uint16_t export_index_;
  std::string name_;
  std::chrono::milliseconds flip_timeout_{5000};

  mutable std::mutex ops_mu_;  // guards session_; held across guest calls; taken before event_mu_
  std::unique_ptr<Session> session_;

  mutable std::mutex event_mu_;  // guards the fields below; a leaf lock, taken on the I/O thread
  std::condition_variable flip_cv_;
  std::set<uint64_t> flips_waiting_;  // cookies sent, flipDone not seen yet
  uint64_t next_cookie_ = 1;
  uint64_t refused_events_ = 0;
  std::set<uint32_t> known_connectors_;  // from the last getResources; hotplug ids must be here
  std::map<uint64_t, HotplugListener> listeners_;
  uint64_t next_listener_ = 1;
};

}  // namespace bridge
