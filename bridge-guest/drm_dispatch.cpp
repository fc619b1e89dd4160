#include "bridge-guest/drm_dispatch.h"

#include <spdlog/spdlog.h>

#include <string>

#include "bridge-guest/engines/drm/pixel_copy.h"
#include "schema/frame.h"

namespace bridge::guest {
namespace {

using Req = wire::DrmReq;
constexpr uint32_t kXrgb8888 = 0x34325258;  // DRM_FORMAT_XRGB8888 ('XR24')
constexpr uint32_t kArgb8888 = 0x34325241;  // DRM_FORMAT_ARGB8888 ('AR24')

std::string num(uint64_t v) {
  return std::to_string(v);
}

void encode_mode(const DrmModeInfo& m, wire::DrmMode::Builder out) {
  out.setName(m.name);
  out.setClock(m.clock);
  out.setHdisplay(m.hdisplay), out.setHsyncStart(m.hsync_start), out.setHsyncEnd(m.hsync_end);
  out.setHtotal(m.htotal);
  out.setVdisplay(m.vdisplay), out.setVsyncStart(m.vsync_start), out.setVsyncEnd(m.vsync_end);
  out.setVtotal(m.vtotal);
  out.setVrefresh(m.vrefresh), out.setFlags(m.flags), out.setType(m.type);
}

DrmModeInfo decode_mode(wire::DrmMode::Reader m) {
  DrmModeInfo out;
  out.name = std::string(m.getName().cStr(), std::min<std::size_t>(m.getName().size(), 31));
  out.clock = m.getClock();
  out.hdisplay = m.getHdisplay(), out.hsync_start = m.getHsyncStart();
  out.hsync_end = m.getHsyncEnd(), out.htotal = m.getHtotal();
  out.vdisplay = m.getVdisplay(), out.vsync_start = m.getVsyncStart();
  out.vsync_end = m.getVsyncEnd(), out.vtotal = m.getVtotal();
  out.vrefresh = m.getVrefresh(), out.flags = m.getFlags(), out.type = m.getType();
  return out;
}

template <typename T>
void encode_ids(const std::vector<uint32_t>& ids, T list) {
  for (unsigned i = 0; i < ids.size(); ++i) list.set(i, ids[i]);
}

void encode_connector(const DrmConnectorInfo& c, wire::DrmConnector::Builder out) {
  out.setId(c.id);
  out.setType(c.type);
  out.setConnected(c.connected);
  auto modes = out.initModes(static_cast<unsigned>(c.modes.size()));
  for (unsigned i = 0; i < c.modes.size(); ++i) encode_mode(c.modes[i], modes[i]);
  out.setWidthMm(c.width_mm), out.setHeightMm(c.height_mm);
  out.setName(c.name);
  out.setEncoder(c.encoder);
  out.setPossibleCrtcs(c.possible_crtcs);
}

void encode_caps(const DrmCapsInfo& c, wire::DrmCaps::Builder out) {
  out.setDriver(c.driver);
  out.setDescription(c.description);
  out.setDumbBuffer(c.dumb_buffer);
  out.setCursorWidth(c.cursor_width), out.setCursorHeight(c.cursor_height);
  out.setAsyncFlip(c.async_flip);
  out.setVblank(c.vblank);
  out.setPreferredDepth(c.preferred_depth);
}

void encode_planes(const std::vector<DrmPlaneInfo>& planes,
                   capnp::List<wire::DrmPlane>::Builder out) {
  for (unsigned i = 0; i < planes.size(); ++i) {
    const auto& p = planes[i];
    out[i].setId(p.id), out[i].setPossibleCrtcs(p.possible_crtcs), out[i].setCrtc(p.crtc);
    out[i].setFramebuffer(p.framebuffer), out[i].setType(p.type);
    encode_ids(p.formats, out[i].initFormats(static_cast<unsigned>(p.formats.size())));
  }
}

}  // namespace

DrmDispatch::DrmDispatch(std::unique_ptr<DrmDevice> device) : device_(std::move(device)) {}

DrmDispatch::~DrmDispatch() {
  set_event_sink(nullptr);
  release_all();
  // The device's event thread calls send_event(): stop it (the device joins it) while this
  // object's members are still alive.
  device_.reset();
}

void DrmDispatch::start_events(uint16_t export_index) {
  export_index_ = export_index;
  device_->start_events([this](const DrmEvent& e) { send_event(e); });
}

void DrmDispatch::set_event_sink(FrameSink sink) {
  std::lock_guard lock(sink_mu_);
  sink_ = std::move(sink);
}

void DrmDispatch::send_event(const DrmEvent& e) {  // on the device's event thread
  capnp::MallocMessageBuilder message;
  auto event = message.initRoot<wire::Message>().initEvent();
  event.setExport(export_index_);
  auto vblank = [&e](wire::VblankEvent::Builder v) {
    v.setCrtc(e.crtc), v.setSequence(e.sequence), v.setTimestampNs(e.timestamp_ns);
    v.setCookie(e.cookie);
  };
  switch (e.kind) {
    case DrmEvent::Kind::flip_done:
      vblank(event.initFlipDone());
      break;
    case DrmEvent::Kind::vblank:
      vblank(event.initVblank());
      break;
    case DrmEvent::Kind::hotplug:
      event.setHotplug(e.connector);
      break;
  }
  std::lock_guard lock(sink_mu_);
  if (sink_) sink_(frame::encode(message));
}

void DrmDispatch::release_all() {
  for (const auto& [fb, info] : framebuffers_) {
    if (auto st = device_->remove_framebuffer(fb); !st)
      spdlog::warn("release framebuffer {}: {}", fb, st.error().context);
  }
  framebuffers_.clear();
  for (const auto& [handle, info] : dumbs_) {
    if (auto st = device_->destroy_dumb(handle); !st)
      spdlog::warn("release dumb buffer {}: {}", handle, st.error().context);
  }
  dumbs_.clear();
}

Status DrmDispatch::refresh_objects() {
  auto res = device_->resources();
  if (!res) return res.error();
  crtcs_ = std::set<uint32_t>(res->crtcs.begin(), res->crtcs.end());
  connectors_ = std::set<uint32_t>(res->connectors.begin(), res->connectors.end());
  max_width_ = res->max_width;
  max_height_ = res->max_height;
  listed_ = true;
  return {};
}

Status DrmDispatch::need_crtc(uint32_t id) const {
  if (crtcs_.contains(id)) return {};
  return make_error(ENOENT, "crtc " + num(id) + " is not one this display listed");
}

Status DrmDispatch::need_connector(uint32_t id) const {
  if (connectors_.contains(id)) return {};
  return make_error(ENOENT, "connector " + num(id) + " is not one this display listed");
}

Result<const DrmDispatch::Framebuffer*> DrmDispatch::need_framebuffer(uint32_t id) const {
  auto it = framebuffers_.find(id);
  if (it == framebuffers_.end())
    return make_error(ENOENT, "framebuffer " + num(id) + " was not created through this export");
  return &it->second;
}

Status DrmDispatch::handle(Req::Reader r, wire::Response::Builder response,
                           const SharedRegion* region) {
  if (!listed_) {
    if (auto st = refresh_objects(); !st) return st;
  }
  auto reply = [&response] { return response.getResult().initDrm(); };
  auto done = [&response](Status st) {
    if (st) response.getResult().initDrm().setDone();
    return st;
  };
  switch (r.which()) {
    case Req::GET_CAPS:
      encode_caps(device_->caps(), reply().initCaps());
      return {};
    case Req::GET_RESOURCES:
      return get_resources(reply());
    case Req::GET_CONNECTOR: {
      if (auto st = need_connector(r.getGetConnector()); !st) return st;
      auto c = device_->connector(r.getGetConnector());
      if (!c) return c.error();
      encode_connector(*c, reply().initConnector());
      return {};
    }
    case Req::CREATE_DUMB:
      return create_dumb(r.getCreateDumb(), reply());
    case Req::DESTROY_DUMB:
      return done(destroy_dumb(r.getDestroyDumb()));
    case Req::ADD_FRAMEBUFFER:
      return add_framebuffer(r.getAddFramebuffer(), reply());
    case Req::REMOVE_FRAMEBUFFER:
      return done(remove_framebuffer(r.getRemoveFramebuffer()));
    case Req::SET_CRTC:
      return done(set_crtc(r.getSetCrtc()));
    case Req::DIRTY:
      return done(dirty(r.getDirty(), region));
    case Req::PAGE_FLIP:
      return done(page_flip(r.getPageFlip(), region));
    case Req::SET_CURSOR:
      return done(set_cursor(r.getSetCursor(), region));
    case Req::GET_CRTC: {
      if (auto st = need_crtc(r.getGetCrtc()); !st) return st;
      auto c = device_->crtc(r.getGetCrtc());
      if (!c) return c.error();
      auto out = reply().initCrtc();
      out.setId(c->id), out.setFramebuffer(c->framebuffer), out.setX(c->x), out.setY(c->y);
      out.setModeValid(c->mode.has_value());
      if (c->mode) encode_mode(*c->mode, out.initMode());
      return {};
    }
    case Req::GET_PLANES: {
      auto planes = device_->planes();
      if (!planes) return planes.error();
      encode_planes(*planes, reply().initPlanes(static_cast<unsigned>(planes->size())));
      return {};
    }
    case Req::REQUEST_VBLANK: {
      auto v = r.getRequestVblank();
      if (auto st = need_crtc(v.getCrtc()); !st) return st;
      if (!device_->caps().vblank)
        return make_error(ENOTSUP, device_->caps().driver + " delivers no vblank events");
      return done(device_->request_vblank(v.getCrtc(), v.getCookie()));
    }
    case Req::MOVE_CURSOR: {
      auto m = r.getMoveCursor();
      if (auto st = need_crtc(m.getCrtc()); !st) return st;
      return done(device_->move_cursor(m.getCrtc(), m.getX(), m.getY()));
    }
  }
  return make_error(ENOSYS, "unknown display operation (newer host?)");
}

Status DrmDispatch::get_resources(wire::DrmReply::Builder reply) {
  if (auto st = refresh_objects(); !st) return st;
  auto res = device_->resources();
  if (!res) return res.error();
  auto out = reply.initResources();
  encode_ids(res->crtcs, out.initCrtcs(static_cast<unsigned>(res->crtcs.size())));
  encode_ids(res->connectors, out.initConnectors(static_cast<unsigned>(res->connectors.size())));
  encode_ids(res->encoders, out.initEncoders(static_cast<unsigned>(res->encoders.size())));
  encode_ids(res->planes, out.initPlanes(static_cast<unsigned>(res->planes.size())));
  out.setMinWidth(res->min_width), out.setMaxWidth(res->max_width);
  out.setMinHeight(res->min_height), out.setMaxHeight(res->max_height);
  // Only the framebuffers this export made: the host may name no others.
  auto fbs = out.initFramebuffers(static_cast<unsigned>(framebuffers_.size()));
  unsigned i = 0;
  for (const auto& [id, fb] : framebuffers_) fbs.set(i++, id);
  return {};
}

Status DrmDispatch::create_dumb(wire::DumbReq::Reader r, wire::DrmReply::Builder reply) {
  const uint32_t w = r.getWidth(), h = r.getHeight();
  if (r.getBpp() != 32)
    return make_error(EINVAL, "dumb buffer bpp " + num(r.getBpp()) + ": only 32");
  if (w == 0 || h == 0 || w > max_width_ || h > max_height_)
    return make_error(EINVAL, "dumb buffer " + num(w) + "x" + num(h) + " outside 1x1.." +
                                  num(max_width_) + "x" + num(max_height_));
  if (dumbs_.size() >= kDumbMax)
    return make_error(ENOSPC, "more than " + num(kDumbMax) + " dumb buffers on one export");
  auto dumb = device_->create_dumb(w, h, 32);
  if (!dumb) return dumb.error();
  // The copy writes through the mapping: make sure the driver's buffer holds what it said.
  if (auto st = check_image(dumb->size, w, h, dumb->pitch, "driver's dumb buffer"); !st) {
    (void)device_->destroy_dumb(dumb->handle);
    return st;
  }
  dumbs_[dumb->handle] = Dumb{w, h, dumb->pitch, dumb->size};
  auto out = reply.initDumb();
  out.setHandle(dumb->handle), out.setPitch(dumb->pitch), out.setSize(dumb->size);
  return {};
}

Status DrmDispatch::destroy_dumb(uint32_t handle) {
  if (!dumbs_.contains(handle))
    return make_error(ENOENT,
                      "dumb buffer " + num(handle) + " was not created through this export");
  for (const auto& [id, fb] : framebuffers_) {
    if (fb.handle == handle)
      return make_error(EBUSY, "dumb buffer " + num(handle) + " backs framebuffer " + num(id) +
                                   ": remove that first");
  }
  dumbs_.erase(handle);
  return device_->destroy_dumb(handle);
}

Status DrmDispatch::add_framebuffer(wire::FramebufferReq::Reader r, wire::DrmReply::Builder reply) {
  auto it = dumbs_.find(r.getHandle());
  if (it == dumbs_.end())
    return make_error(ENOENT,
                      "dumb buffer " + num(r.getHandle()) + " was not created through this export");
  const Dumb& dumb = it->second;
  if (r.getFormat() != kXrgb8888 && r.getFormat() != kArgb8888)
    return make_error(EINVAL,
                      "framebuffer format " + num(r.getFormat()) + ": only XRGB8888 and ARGB8888");
  if (r.getWidth() == 0 || r.getHeight() == 0 || r.getWidth() > dumb.width ||
      r.getHeight() > dumb.height)
    return make_error(EINVAL, "framebuffer " + num(r.getWidth()) + "x" + num(r.getHeight()) +
                                  " larger than its dumb buffer " + num(dumb.width) + "x" +
                                  num(dumb.height));
  if (auto st = check_image(dumb.size, r.getWidth(), r.getHeight(), r.getPitch(), "framebuffer");
      !st)
    return st;
  if (framebuffers_.size() >= kFramebufferMax)
    return make_error(ENOSPC, "more than " + num(kFramebufferMax) + " framebuffers on one export");
  auto fb = device_->add_framebuffer(r.getWidth(), r.getHeight(), r.getFormat(), r.getHandle(),
                                     r.getPitch());
  if (!fb) return fb.error();
  framebuffers_[*fb] = Framebuffer{r.getHandle(), r.getWidth(), r.getHeight(), r.getPitch()};
  reply.setFramebuffer(*fb);
  return {};
}

Status DrmDispatch::remove_framebuffer(uint32_t fb) {
  if (auto f = need_framebuffer(fb); !f) return f.error();
  framebuffers_.erase(fb);
  return device_->remove_framebuffer(fb);
}

Status DrmDispatch::set_crtc(wire::SetCrtcReq::Reader r) {
  if (auto st = need_crtc(r.getCrtc()); !st) return st;
  std::vector<uint32_t> conns;
  for (uint32_t c : r.getConnectors()) {
    if (auto st = need_connector(c); !st) return st;
    conns.push_back(c);
  }
  if (r.getFramebuffer() == 0)  // disable
    return device_->set_crtc(r.getCrtc(), 0, 0, 0, {}, std::nullopt);
  auto fb = need_framebuffer(r.getFramebuffer());
  if (!fb) return fb.error();
  if (conns.empty()) return make_error(EINVAL, "modeset with a framebuffer needs a connector");
  auto mode = decode_mode(r.getMode());
  // The scanout window must lie inside the framebuffer (64-bit sums: no overflow).
  if (mode.hdisplay == 0 || mode.vdisplay == 0 ||
      uint64_t{r.getX()} + mode.hdisplay > (*fb)->width ||
      uint64_t{r.getY()} + mode.vdisplay > (*fb)->height)
    return make_error(EINVAL, "mode " + num(mode.hdisplay) + "x" + num(mode.vdisplay) + " at " +
                                  num(r.getX()) + "," + num(r.getY()) +
                                  " does not fit framebuffer " + num(r.getFramebuffer()));
  return device_->set_crtc(r.getCrtc(), r.getFramebuffer(), r.getX(), r.getY(), conns, mode);
}

Status DrmDispatch::copy_damage(const SharedRegion* region, const Framebuffer& fb, Rects rects,
                                wire::RegionRef::Reader pixels, uint32_t pitch,
                                std::vector<PixelRect>& damaged) {
  if (region == nullptr || !region->mapped())
    return make_error(ENOTSUP, "no shared region: display pixels need one");
  if (rects.size() > kRectsMax)
    return make_error(E2BIG, num(rects.size()) + " rectangles (at most " + num(kRectsMax) + ")");
  auto shadow = region->slice(pixels.getOffset(), pixels.getLength());
  if (!shadow) return shadow.error();
  if (auto st = check_image(shadow->size(), fb.width, fb.height, pitch, "shadow framebuffer"); !st)
    return st;
  auto dst = device_->dumb_pixels(fb.handle);
  if (!dst) return dst.error();
  if (auto st = check_image(dst->size(), fb.width, fb.height, fb.pitch, "dumb buffer"); !st)
    return st;
  if (rects.size() == 0) {
    damaged.push_back(PixelRect{0, 0, fb.width, fb.height});
  } else {
    for (auto r : rects) {
      if (auto c = clip_rect(r.getX(), r.getY(), r.getWidth(), r.getHeight(), fb.width, fb.height))
        damaged.push_back(*c);
    }
  }
  copy_rects(ConstPixelImage{*shadow, fb.width, fb.height, pitch},
             PixelImage{*dst, fb.width, fb.height, fb.pitch}, damaged);
  return {};
}

Status DrmDispatch::dirty(wire::DirtyReq::Reader r, const SharedRegion* region) {
  auto fb = need_framebuffer(r.getFramebuffer());
  if (!fb) return fb.error();
  std::vector<PixelRect> damaged;
  if (auto st = copy_damage(region, **fb, r.getRects(), r.getPixels(), r.getPitch(), damaged); !st)
    return st;
  if (damaged.empty()) return {};  // every rectangle lay outside the framebuffer
  return device_->dirty(r.getFramebuffer(), damaged);
}

Status DrmDispatch::page_flip(wire::PageFlipReq::Reader r, const SharedRegion* region) {
  if (auto st = need_crtc(r.getCrtc()); !st) return st;
  auto fb = need_framebuffer(r.getFramebuffer());
  if (!fb) return fb.error();
  std::vector<PixelRect> damaged;
  if (auto st = copy_damage(region, **fb, r.getRects(), r.getPixels(), r.getPitch(), damaged); !st)
    return st;
  return device_->page_flip(r.getCrtc(), r.getFramebuffer(), r.getCookie());
}

Status DrmDispatch::set_cursor(wire::CursorReq::Reader r, const SharedRegion* region) {
  if (auto st = need_crtc(r.getCrtc()); !st) return st;
  const uint32_t w = r.getWidth(), h = r.getHeight();
  if (w == 0 || h == 0) return device_->set_cursor(r.getCrtc(), 0, 0, 0, 0, {});
  const auto& caps = device_->caps();
  if (w > caps.cursor_width || h > caps.cursor_height)
    return make_error(EINVAL, "cursor " + num(w) + "x" + num(h) + " larger than " +
                                  num(caps.cursor_width) + "x" + num(caps.cursor_height));
  if (region == nullptr || !region->mapped())
    return make_error(ENOTSUP, "no shared region: cursor pixels need one");
  const uint64_t need = uint64_t{w} * h * kBytesPerPixel;  // w, h <= cursor size: small
  if (r.getPixels().getLength() < need)
    return make_error(EFAULT, "cursor pixels: " + num(r.getPixels().getLength()) + " bytes for a " +
                                  num(w) + "x" + num(h) + " image");
  auto argb = region->slice(r.getPixels().getOffset(), need);
  if (!argb) return argb.error();
  return device_->set_cursor(r.getCrtc(), w, h, r.getHotX(), r.getHotY(), *argb);
}

}  // namespace bridge::guest
