#include "schemes/remote_display_scheme.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "schema/errno_map.h"

namespace bridge {
namespace {

using Which = wire::DrmReply::Which;
using Op = wire::DrmReq::Builder;
constexpr uint32_t kXrgb8888 = 0x34325258;
constexpr uint32_t kCursorDefault = 64;

std::string bounded(capnp::Text::Reader text, std::size_t max) {
  return std::string(text.cStr(), std::min<std::size_t>(text.size(), max));
}

// Believes a response only when it is a DrmReply of the expected kind; reading a hostile
// message may throw, which is EIO as well.
template <typename T, typename Extract>
Result<T> expect(Result<frame::Frame> frame, Which expected, const char* what, Extract&& extract) {
  if (!frame) return make_error(frame.code(), std::string(what) + ": " + frame.error().context);
  try {
    auto response = frame->message().getResponse();
    auto result = response.getResult();
    if (result.isError()) {
      auto context = std::string(what) + ": guest error";
      if (response.hasMessage()) context += ": " + bounded(response.getMessage(), 200);
      return make_error(from_wire_errno(result.getError()), std::move(context));
    }
    if (!result.isDrm() || result.getDrm().which() != expected)
      return make_error(EIO, std::string(what) + ": guest answered with the wrong kind of result");
    return extract(result.getDrm());
  } catch (const kj::Exception& e) {
    return make_error(
        EIO, std::string(what) + ": malformed answer from guest: " + e.getDescription().cStr());
  }
}

Status expect_done(Result<frame::Frame> frame, const char* what) {
  auto r = expect<bool>(std::move(frame), Which::DONE, what, [](auto) { return true; });
  if (!r) return r.error();
  return {};
}

// Timings must be ordered, the picture non-empty and small enough that a frame fits a region.
Result<DisplayMode> decode_mode(wire::DrmMode::Reader m) {
  DisplayMode mode{bounded(m.getName(), DisplayLimits::kNameMax),
                   m.getClock(),
                   m.getHdisplay(),
                   m.getHsyncStart(),
                   m.getHsyncEnd(),
                   m.getHtotal(),
                   m.getVdisplay(),
                   m.getVsyncStart(),
                   m.getVsyncEnd(),
                   m.getVtotal(),
                   m.getVrefresh(),
                   m.getFlags(),
                   m.getType()};
  bool sane = mode.hdisplay > 0 && mode.vdisplay > 0 &&
              mode.hdisplay <= DisplayLimits::kDimensionMax &&
              mode.vdisplay <= DisplayLimits::kDimensionMax && mode.hdisplay <= mode.hsync_start &&
              mode.hsync_start <= mode.hsync_end && mode.hsync_end <= mode.htotal &&
              mode.vdisplay <= mode.vsync_start && mode.vsync_start <= mode.vsync_end &&
              mode.vsync_end <= mode.vtotal && mode.clock > 0 && mode.vrefresh <= 1000;
  if (!sane)
    return make_error(EIO, "guest described an impossible mode " + std::to_string(mode.hdisplay) +
                               "x" + std::to_string(mode.vdisplay));
  return mode;
}

void encode_mode(const DisplayMode& mode, wire::DrmMode::Builder m) {
  m.setName(mode.name);
  m.setClock(mode.clock);
  m.setHdisplay(mode.hdisplay);
  m.setHsyncStart(mode.hsync_start);
  m.setHsyncEnd(mode.hsync_end);
  m.setHtotal(mode.htotal);
  m.setVdisplay(mode.vdisplay);
  m.setVsyncStart(mode.vsync_start);
  m.setVsyncEnd(mode.vsync_end);
  m.setVtotal(mode.vtotal);
  m.setVrefresh(mode.vrefresh);
  m.setFlags(mode.flags);
  m.setType(mode.type);
}

Result<std::vector<uint32_t>> id_list(capnp::List<uint32_t>::Reader list, unsigned max,
                                      const char* what) {
  if (list.size() > max)
    return make_error(EIO, "guest listed " + std::to_string(list.size()) + " " + what +
                               " (at most " + std::to_string(max) + ")");
  std::vector<uint32_t> ids;
  for (uint32_t id : list) ids.push_back(id);
  if (std::count(ids.begin(), ids.end(), 0u) > 0)
    return make_error(EIO, std::string("guest listed object id 0 among its ") + what);
  return ids;
}

Result<ConnectorInfo> decode_connector(wire::DrmConnector::Reader c, uint32_t asked) {
  if (c.getId() != asked)
    return make_error(EIO, "guest answered for connector " + std::to_string(c.getId()) +
                               " when asked for " + std::to_string(asked));
  if (c.getModes().size() > DisplayLimits::kModesMax)
    return make_error(EIO, "guest listed " + std::to_string(c.getModes().size()) +
                               " modes for one connector (at most " +
                               std::to_string(DisplayLimits::kModesMax) + ")");
  ConnectorInfo info{asked,
                     bounded(c.getName(), DisplayLimits::kNameMax),
                     c.getConnected(),
                     c.getPossibleCrtcs(),
                     {}};
  for (auto m : c.getModes()) {
    auto mode = decode_mode(m);
    if (!mode) return mode.error();
    info.modes.push_back(std::move(*mode));
  }
  return info;
}

void set_rects(capnp::List<wire::Rect>::Builder out, std::span<const DisplayRect> rects) {
  for (unsigned i = 0; i < rects.size(); ++i) {
    out[i].setX(rects[i].x);
    out[i].setY(rects[i].y);
    out[i].setWidth(rects[i].width);
    out[i].setHeight(rects[i].height);
  }
}

}  // namespace

// Everything one attachment created; teardown() undoes what is set.
struct RemoteDisplayScheme::Session {
  Owner owner;
  Attachment attachment;
  uint32_t crtc = 0;
  std::array<uint32_t, 2> dumb{};
  std::array<uint32_t, 2> framebuffer{};
  std::array<RegionLease, 2> shadow;
  RegionLease cursor;
  uint32_t cursor_width = 0, cursor_height = 0;
  bool crtc_set = false;
};

RemoteDisplayScheme::RemoteDisplayScheme(std::shared_ptr<GuestChannel> channel,
                                         uint16_t export_index, std::string name)
    : channel_(std::move(channel)), export_index_(export_index), name_(std::move(name)) {}

RemoteDisplayScheme::~RemoteDisplayScheme() = default;

std::shared_ptr<RemoteDisplayScheme> RemoteDisplayScheme::create(
    std::shared_ptr<GuestChannel> channel, uint16_t export_index, std::string name) {
  std::shared_ptr<RemoteDisplayScheme> scheme(
      new RemoteDisplayScheme(channel, export_index, std::move(name)));
  std::weak_ptr<RemoteDisplayScheme> weak = scheme;
  channel->on_event(export_index, [weak](wire::Event::Reader event) {
    if (auto self = weak.lock()) self->on_event(event);
  });
  return scheme;
}

template <typename Fill>
Result<frame::Frame> RemoteDisplayScheme::call(Fill&& fill) {
  auto message = std::make_unique<capnp::MallocMessageBuilder>();
  auto request = message->initRoot<wire::Message>().initRequest();
  request.setExport(export_index_);
  fill(request.getOp().initDrm());
  return channel_->call(std::move(message));
}

// Without ops_mu_: info touches no session state, so a client asking for it need not wait
// behind the owner's flip (which holds ops_mu_ until the guest reports it done).
Result<DisplayInfo> RemoteDisplayScheme::info() {
  return query_info();
}

Result<DisplayInfo> RemoteDisplayScheme::query_info() {
  DisplayInfo info;
  auto caps = expect<bool>(call([](Op op) { op.setGetCaps(); }), Which::CAPS, "getCaps",
                           [&](wire::DrmReply::Reader r) {
                             auto c = r.getCaps();
                             info.driver = bounded(c.getDriver(), DisplayLimits::kDriverMax);
                             info.cursor_width = c.getCursorWidth();
                             info.cursor_height = c.getCursorHeight();
                             return true;
                           });
  if (!caps) return caps.error();
  std::vector<uint32_t> connectors;
  auto res = expect<Status>(
      call([](Op op) { op.setGetResources(); }), Which::RESOURCES, "getResources",
      [&](wire::DrmReply::Reader r) -> Status {
        auto crtcs = id_list(r.getResources().getCrtcs(), DisplayLimits::kCrtcsMax, "CRTCs");
        if (!crtcs) return crtcs.error();
        auto conns =
            id_list(r.getResources().getConnectors(), DisplayLimits::kConnectorsMax, "connectors");
        if (!conns) return conns.error();
        info.crtcs = std::move(*crtcs);
        connectors = std::move(*conns);
        std::lock_guard events(event_mu_);
        known_connectors_ = {connectors.begin(), connectors.end()};
        return {};
      });
  if (!res) return res.error();
  if (!*res) return res->error();
  for (uint32_t id : connectors) {
    auto c = expect<ConnectorInfo>(call([id](Op op) { op.setGetConnector(id); }), Which::CONNECTOR,
                                   "getConnector",
                                   [id](auto r) { return decode_connector(r.getConnector(), id); });
    if (!c) return c.error();
    info.connectors.push_back(std::move(*c));
  }
  return info;
}

std::optional<Owner> RemoteDisplayScheme::owner() const {
  std::lock_guard lock(ops_mu_);
  if (!session_) return std::nullopt;
  return session_->owner;
}

namespace {

Result<const DisplayMode*> pick_mode(const ConnectorInfo& c,
                                     std::optional<std::pair<uint32_t, uint32_t>> want) {
  if (c.modes.empty()) return make_error(ENODEV, "connector " + c.name + " has no modes");
  if (want) {
    for (const auto& m : c.modes)
      if (m.hdisplay == want->first && m.vdisplay == want->second) return &m;
    return make_error(EINVAL, "connector " + c.name + " has no mode " +
                                  std::to_string(want->first) + "x" + std::to_string(want->second));
  }
  for (const auto& m : c.modes)
    if (m.preferred()) return &m;
  return &c.modes.front();
}

// The first CRTC the connector may drive; the guest's bit mask indexes its own CRTC list.
uint32_t pick_crtc(const DisplayInfo& info, const ConnectorInfo& c) {
  for (unsigned i = 0; i < info.crtcs.size(); ++i)
    if (c.possible_crtcs & (1u << i)) return info.crtcs[i];
  return info.crtcs.front();
}

}  // namespace

Result<Attachment> RemoteDisplayScheme::attach(Owner owner,
                                               std::optional<std::pair<uint32_t, uint32_t>> want) {
  std::lock_guard lock(ops_mu_);
  if (session_)
    return make_error(EBUSY, name_ + " is in use by pid " + std::to_string(session_->owner.pid));
  if (!channel_->region())
    return make_error(ENODEV, name_ +
                                  ": the guest has no shared region; start the VM with an "
                                  "ivshmem region");
  auto info = query_info();
  if (!info) return info.error();
  if (info->crtcs.empty()) return make_error(ENODEV, name_ + ": the guest listed no CRTC");
  auto connector = std::find_if(info->connectors.begin(), info->connectors.end(),
                                [](const auto& c) { return c.connected; });
  if (connector == info->connectors.end())
    return make_error(ENODEV, name_ + ": no connector is connected");
  auto mode = pick_mode(*connector, want);
  if (!mode) return mode.error();
  auto session = std::make_unique<Session>();
  session->owner = owner;
  if (auto built = build_session(*session, *info, *connector, **mode); !built) {
    teardown(*session);
    return built.error();
  }
  session_ = std::move(session);
  spdlog::info("{}: attached by pid {} at {}x{}", name_, owner.pid, (*mode)->hdisplay,
               (*mode)->vdisplay);
  return session_->attachment;
}

Status RemoteDisplayScheme::build_session(Session& s, const DisplayInfo& info,
                                          const ConnectorInfo& connector, const DisplayMode& mode) {
  auto region = channel_->region();
  const uint32_t width = mode.hdisplay, height = mode.vdisplay, pitch = width * 4;
  s.crtc = pick_crtc(info, connector);
  s.attachment.mode = mode;
  s.attachment.connector = connector.id;
  for (unsigned i = 0; i < 2; ++i) {
    struct DumbReply {
      uint32_t handle, pitch;
      uint64_t offset, length;  // a region range: never the guest's to name
    };
    auto dumb =
        expect<DumbReply>(call([&](Op op) {
                            auto d = op.initCreateDumb();
                            d.setWidth(width);
                            d.setHeight(height);
                            d.setBpp(32);
                          }),
                          Which::DUMB, "createDumb", [](auto r) {
                            auto d = r.getDumb();
                            return DumbReply{d.getHandle(), d.getPitch(), d.getPixels().getOffset(),
                                             d.getPixels().getLength()};
                          });
    if (!dumb) return dumb.error();
    s.dumb[i] = dumb->handle;  // whatever follows, teardown destroys it
    // Region ranges are the host's to hand out (a guest only ever sees the host's leases): a
    // dumb buffer naming one is a guest steering the host at memory it never leased.
    if (dumb->offset != 0 || dumb->length != 0)
      return make_error(EIO, "guest named region range [" + std::to_string(dumb->offset) + ", +" +
                                 std::to_string(dumb->length) +
                                 ") for a dumb buffer; the host leased it none");
    if (dumb->handle == 0 || dumb->pitch < pitch)
      return make_error(EIO, "guest returned an unusable dumb buffer");
    auto fb = expect<uint32_t>(call([&](Op op) {
                                 auto f = op.initAddFramebuffer();
                                 f.setWidth(width);
                                 f.setHeight(height);
                                 f.setFormat(kXrgb8888);
                                 f.setHandle(dumb->handle);
                                 f.setPitch(dumb->pitch);
                               }),
                               Which::FRAMEBUFFER, "addFramebuffer",
                               [](auto r) { return r.getFramebuffer(); });
    if (!fb) return fb.error();
    if (*fb == 0) return make_error(EIO, "guest returned framebuffer id 0");
    s.framebuffer[i] = *fb;
    auto lease = region->allocator.allocate(uint64_t{pitch} * height);
    if (!lease) return make_error(lease.code(), "shadow framebuffer: " + lease.error().context);
    s.shadow[i] = std::move(*lease);
    s.attachment.buffers[i] = {s.shadow[i].offset(), s.shadow[i].length(), pitch, width, height};
  }
  s.cursor_width = std::clamp<uint32_t>(info.cursor_width, 1, DisplayLimits::kCursorMax);
  s.cursor_height = std::clamp<uint32_t>(info.cursor_height, 1, DisplayLimits::kCursorMax);
  if (info.cursor_width == 0 || info.cursor_height == 0)
    s.cursor_width = s.cursor_height = kCursorDefault;
  auto cursor = region->allocator.allocate(uint64_t{s.cursor_width} * 4 * s.cursor_height);
  if (!cursor) return make_error(cursor.code(), "cursor shadow: " + cursor.error().context);
  s.cursor = std::move(*cursor);
  s.attachment.cursor = {s.cursor.offset(), s.cursor.length(), s.cursor_width * 4, s.cursor_width,
                         s.cursor_height};
  auto set = expect_done(call([&](Op op) {
                           auto c = op.initSetCrtc();
                           c.setCrtc(s.crtc);
                           c.setFramebuffer(s.framebuffer[0]);
                           c.initConnectors(1).set(0, connector.id);
                           encode_mode(mode, c.initMode());
                         }),
                         "setCrtc");
  if (!set) return set;
  s.crtc_set = true;
  return {};
}

// Best effort: the guest may be gone, and what it still holds dies with its session anyway.
void RemoteDisplayScheme::teardown(Session& s) {
  if (s.crtc_set) {
    auto off = expect_done(call([&](Op op) {
                             auto c = op.initSetCrtc();
                             c.setCrtc(s.crtc);
                             c.setFramebuffer(0);
                           }),
                           "disable CRTC");
    if (!off) spdlog::warn("{}: {}", name_, off.error().context);
  }
  for (unsigned i = 0; i < 2; ++i) {
    if (s.framebuffer[i] != 0)
      (void)expect_done(call([&](Op op) { op.setRemoveFramebuffer(s.framebuffer[i]); }),
                        "removeFramebuffer");
    if (s.dumb[i] != 0)
      (void)expect_done(call([&](Op op) { op.setDestroyDumb(s.dumb[i]); }), "destroyDumb");
    s.shadow[i].release();
  }
  s.cursor.release();
}

Status RemoteDisplayScheme::detach(OwnerId owner) {
  std::lock_guard lock(ops_mu_);
  if (!session_ || session_->owner.id != owner) return {};
  teardown(*session_);
  spdlog::info("{}: released by pid {}", name_, session_->owner.pid);
  session_.reset();
  return {};
}

Result<RemoteDisplayScheme::Session*> RemoteDisplayScheme::owned_by(OwnerId owner) {
  if (!session_ || session_->owner.id != owner)
    return make_error(EPERM, name_ + ": attach first (the caller does not own the display)");
  return session_.get();
}

Status RemoteDisplayScheme::damage(OwnerId owner, unsigned buffer,
                                   std::span<const DisplayRect> rects) {
  return send_rects(owner, buffer, rects, false);
}

Status RemoteDisplayScheme::flip(OwnerId owner, unsigned buffer,
                                 std::span<const DisplayRect> rects) {
  return send_rects(owner, buffer, rects, true);
}

Status RemoteDisplayScheme::send_rects(OwnerId owner, unsigned buffer,
                                       std::span<const DisplayRect> rects, bool flip) {
  std::unique_lock lock(ops_mu_);
  auto s = owned_by(owner);
  if (!s) return s.error();
  if (buffer >= 2) return make_error(EINVAL, "buffer index " + std::to_string(buffer) + " (0..1)");
  if (rects.size() > DisplayLimits::kRectsMax)
    return make_error(EINVAL, std::to_string(rects.size()) + " rectangles (at most " +
                                  std::to_string(DisplayLimits::kRectsMax) + ")");
  const auto& shadow = (*s)->attachment.buffers[buffer];
  for (const auto& r : rects) {
    if (r.width == 0 || r.height == 0 || r.x >= shadow.width || r.y >= shadow.height ||
        r.width > shadow.width - r.x || r.height > shadow.height - r.y)
      return make_error(EINVAL, "rectangle outside the " + std::to_string(shadow.width) + "x" +
                                    std::to_string(shadow.height) + " framebuffer");
  }
  const uint32_t fb = (*s)->framebuffer[buffer];
  if (!flip) {
    return expect_done(call([&](Op op) {
                         auto d = op.initDirty();
                         d.setFramebuffer(fb);
                         set_rects(d.initRects(rects.size()), rects);
                         auto px = d.initPixels();
                         px.setOffset(shadow.offset);
                         px.setLength(shadow.length);
                         d.setPitch(shadow.pitch);
                       }),
                       "dirty");
  }
  uint64_t cookie;
  {
    std::lock_guard events(event_mu_);
    cookie = next_cookie_++;
    flips_waiting_.insert(cookie);
  }
  auto sent = expect_done(call([&](Op op) {
                            auto f = op.initPageFlip();
                            f.setCrtc((*s)->crtc);
                            f.setFramebuffer(fb);
                            f.setCookie(cookie);
                            set_rects(f.initRects(rects.size()), rects);
                            auto px = f.initPixels();
                            px.setOffset(shadow.offset);
                            px.setLength(shadow.length);
                            f.setPitch(shadow.pitch);
                          }),
                          "pageFlip");
  std::unique_lock events(event_mu_);
  if (!sent) {
    flips_waiting_.erase(cookie);
    return sent;
  }
  bool done =
      flip_cv_.wait_for(events, flip_timeout_, [&] { return flips_waiting_.count(cookie) == 0; });
  if (!done) {
    flips_waiting_.erase(cookie);
    return make_error(ETIMEDOUT, name_ + ": the guest did not report the flip done");
  }
  return {};
}

Status RemoteDisplayScheme::set_cursor(OwnerId owner, uint32_t width, uint32_t height,
                                       int32_t hot_x, int32_t hot_y) {
  std::lock_guard lock(ops_mu_);
  auto s = owned_by(owner);
  if (!s) return s.error();
  if (width > (*s)->cursor_width || height > (*s)->cursor_height)
    return make_error(EINVAL, "cursor larger than " + std::to_string((*s)->cursor_width) + "x" +
                                  std::to_string((*s)->cursor_height));
  return expect_done(call([&](Op op) {
                       auto c = op.initSetCursor();
                       c.setCrtc((*s)->crtc);
                       c.setWidth(width);
                       c.setHeight(height);
                       c.setHotX(hot_x);
                       c.setHotY(hot_y);
                       auto px = c.initPixels();
                       px.setOffset((*s)->cursor.offset());
                       px.setLength(uint64_t{width} * 4 * height);
                     }),
                     "setCursor");
}

Status RemoteDisplayScheme::move_cursor(OwnerId owner, int32_t x, int32_t y) {
  std::lock_guard lock(ops_mu_);
  auto s = owned_by(owner);
  if (!s) return s.error();
  return expect_done(call([&](Op op) {
                       auto m = op.initMoveCursor();
                       m.setCrtc((*s)->crtc);
                       m.setX(x);
                       m.setY(y);
                     }),
                     "moveCursor");
}

uint64_t RemoteDisplayScheme::add_hotplug_listener(HotplugListener listener) {
  std::lock_guard lock(event_mu_);
  listeners_.emplace(next_listener_, std::move(listener));
  return next_listener_++;
}

void RemoteDisplayScheme::remove_hotplug_listener(uint64_t id) {
  std::lock_guard lock(event_mu_);
  listeners_.erase(id);
}

uint64_t RemoteDisplayScheme::refused_events() const {
  std::lock_guard lock(event_mu_);
  return refused_events_;
}

void RemoteDisplayScheme::on_event(wire::Event::Reader event) {
  // Listeners run under event_mu_ so that remove_hotplug_listener() returning means no call is
  // still in flight (a frontend closes the socket its listener writes to right after).
  std::lock_guard lock(event_mu_);
  try {
    switch (event.which()) {
      case wire::Event::FLIP_DONE: {
        auto cookie = event.getFlipDone().getCookie();
        if (flips_waiting_.erase(cookie) == 0) {
          ++refused_events_;  // late (timed out) or invented: nobody waits for it
          spdlog::debug("{}: flipDone for unknown cookie {}", name_, cookie);
          return;
        }
        flip_cv_.notify_all();
        return;
      }
      case wire::Event::HOTPLUG: {
        const uint32_t connector = event.getHotplug();
        if (known_connectors_.count(connector) == 0) {
          ++refused_events_;  // an id the guest never listed
          return;
        }
        for (const auto& [id, listener] : listeners_) listener(connector);
        return;
      }
      case wire::Event::VBLANK:
        return;  // nobody asks for vblank events yet
      default:
        ++refused_events_;
        return;
    }
  } catch (const kj::Exception& e) {
    ++refused_events_;
    spdlog::warn("{}: malformed event: {}", name_, e.getDescription().cStr());
  }
}

}  // namespace bridge
