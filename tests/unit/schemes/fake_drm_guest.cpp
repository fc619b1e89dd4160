#include "tests/unit/schemes/fake_drm_guest.h"

#include <cstring>

namespace bridge::test {
namespace {

using Which = wire::DrmReq::Which;

// Generous limits: hostile answers may be far above the real frame cap, so that the scheme's
// own checks (not the framing's) are what refuses them.
frame::Frame through_wire(kj::ArrayPtr<const capnp::word> words) {
  auto bytes = words.asBytes();
  frame::Limits limits{4096, 1ull << 30};
  // INVARIANT: capnp bytes and std::byte are both plain bytes.
  auto decoded =
      frame::decode({reinterpret_cast<const std::byte*>(bytes.begin()), bytes.size()}, limits);
  return std::move(decoded.value().frame);
}

void set_mode(wire::DrmMode::Builder m, uint16_t w, uint16_t h, bool preferred) {
  m.setName(std::to_string(w) + "x" + std::to_string(h));
  m.setClock(65000);
  m.setHdisplay(w);
  m.setHsyncStart(w + 24);
  m.setHsyncEnd(w + 160);
  m.setHtotal(w + 320);
  m.setVdisplay(h);
  m.setVsyncStart(h + 3);
  m.setVsyncEnd(h + 9);
  m.setVtotal(h + 38);
  m.setVrefresh(60);
  m.setType(preferred ? (1u << 3) | (1u << 6) : (1u << 6));  // PREFERRED | DRIVER
}

}  // namespace

FakeDrmGuest::FakeDrmGuest(bool with_region, uint64_t region_size) {
  if (with_region) {
    auto mapping = SharedRegion::create_memfd(region_size, "fake-drm-region");
    region_ = std::make_shared<GuestRegion>(std::move(mapping.value()));
  }
  event_thread_ = std::thread([this] { event_loop(); });
}

FakeDrmGuest::~FakeDrmGuest() {
  {
    std::lock_guard lock(events_mu_);
    stop_ = true;
  }
  events_cv_.notify_all();
  event_thread_.join();
}

void FakeDrmGuest::submit(std::unique_ptr<capnp::MallocMessageBuilder> message, Completion done) {
  done(call(std::move(message)));
}

Result<frame::Frame> FakeDrmGuest::call(std::unique_ptr<capnp::MallocMessageBuilder> message) {
  auto request = through_wire(frame::encode(*message));
  auto req = request.message().getRequest();
  capnp::MallocMessageBuilder reply;
  auto response = reply.initRoot<wire::Message>().initResponse();
  response.setId(req.getId());
  if (!req.getOp().isDrm()) {
    response.getResult().setError(wire::Errno::NOSYS);
  } else {
    answer(req.getOp().getDrm(), response);
  }
  return through_wire(frame::encode(reply));
}

void FakeDrmGuest::set_hostile(Hostile hostile) {
  std::lock_guard lock(mu_);
  hostile_ = std::move(hostile);
}

void FakeDrmGuest::add_connector(wire::DrmConnector::Builder c) const {
  c.setId(kConnector);
  c.setType(15);  // DRM_MODE_CONNECTOR_VIRTUAL
  c.setConnected(true);
  c.setName("Virtual-1");
  c.setPossibleCrtcs(1);
  auto modes = c.initModes(2);
  set_mode(modes[0], 1024, 768, true);
  set_mode(modes[1], 800, 600, false);
}

void FakeDrmGuest::answer(wire::DrmReq::Reader req, wire::Response::Builder resp) {
  std::lock_guard lock(mu_);
  ++requests_;
  if (hostile_ && hostile_(req, resp)) return;
  auto result = resp.getResult();
  auto fail = [&](wire::Errno e) { result.setError(e); };
  switch (req.which()) {
    case Which::GET_CAPS: {
      auto caps = result.initDrm().initCaps();
      caps.setDriver("fake-drm");
      caps.setDumbBuffer(true);
      caps.setCursorWidth(64);
      caps.setCursorHeight(64);
      return;
    }
    case Which::GET_RESOURCES: {
      auto res = result.initDrm().initResources();
      res.initCrtcs(1).set(0, kCrtc);
      res.initConnectors(1).set(0, kConnector);
      res.setMaxWidth(4096);
      res.setMaxHeight(4096);
      return;
    }
    case Which::GET_CONNECTOR:
      if (req.getGetConnector() != kConnector) return fail(wire::Errno::NOENT);
      return add_connector(result.initDrm().initConnector());
    case Which::CREATE_DUMB: {
      auto d = req.getCreateDumb();
      if (d.getBpp() != 32 || d.getWidth() == 0 || d.getWidth() > 4096 || d.getHeight() == 0 ||
          d.getHeight() > 4096)
        return fail(wire::Errno::INVAL);
      // A pitch of its own (64 bytes of padding), as real drivers align rows.
      Dumb dumb{d.getWidth(), d.getHeight(), d.getWidth() * 4 + 64, {}};
      dumb.pixels.assign(std::size_t{dumb.pitch / 4} * dumb.height, 0);
      const uint32_t handle = next_id_++;
      auto out = result.initDrm().initDumb();
      out.setHandle(handle);
      out.setPitch(dumb.pitch);
      out.setSize(uint64_t{dumb.pitch} * dumb.height);
      dumbs_.emplace(handle, std::move(dumb));
      return;
    }
    case Which::DESTROY_DUMB:
      if (dumbs_.erase(req.getDestroyDumb()) == 0) return fail(wire::Errno::NOENT);
      return result.initDrm().setDone();
    case Which::ADD_FRAMEBUFFER: {
      auto f = req.getAddFramebuffer();
      auto it = dumbs_.find(f.getHandle());
      if (it == dumbs_.end() || f.getFormat() != 0x34325258 || f.getWidth() != it->second.width ||
          f.getHeight() != it->second.height || f.getPitch() != it->second.pitch)
        return fail(wire::Errno::INVAL);
      const uint32_t id = next_id_++;
      framebuffers_.emplace(id, f.getHandle());
      return result.initDrm().setFramebuffer(id);
    }
    case Which::REMOVE_FRAMEBUFFER:
      if (framebuffers_.erase(req.getRemoveFramebuffer()) == 0) return fail(wire::Errno::NOENT);
      if (shown_fb_ == req.getRemoveFramebuffer()) shown_fb_ = 0;
      return result.initDrm().setDone();
    case Which::SET_CRTC: {
      auto c = req.getSetCrtc();
      if (c.getCrtc() != kCrtc) return fail(wire::Errno::NOENT);
      if (c.getFramebuffer() == 0) {
        shown_fb_ = 0;
        return result.initDrm().setDone();
      }
      if (!framebuffers_.count(c.getFramebuffer()) || c.getConnectors().size() != 1 ||
          c.getConnectors()[0] != kConnector)
        return fail(wire::Errno::INVAL);
      shown_fb_ = c.getFramebuffer();
      return result.initDrm().setDone();
    }
    case Which::DIRTY: {
      auto d = req.getDirty();
      if (!copy_rects(d.getFramebuffer(), d.getRects(), d.getPixels(), d.getPitch()))
        return fail(wire::Errno::FAULT);
      return result.initDrm().setDone();
    }
    case Which::PAGE_FLIP: {
      auto f = req.getPageFlip();
      if (f.getCrtc() != kCrtc ||
          !copy_rects(f.getFramebuffer(), f.getRects(), f.getPixels(), f.getPitch()))
        return fail(wire::Errno::INVAL);
      shown_fb_ = f.getFramebuffer();
      result.initDrm().setDone();
      if (send_flip_done_) {
        const uint64_t cookie = f.getCookie();
        emit([cookie](wire::Event::Builder e) {
          e.setExport(0);
          auto done = e.initFlipDone();
          done.setCrtc(kCrtc);
          done.setCookie(cookie);
        });
      }
      return;
    }
    case Which::SET_CURSOR:
    case Which::MOVE_CURSOR:
      return result.initDrm().setDone();
    default:
      return fail(wire::Errno::NOTSUP);
  }
}

// The guest's side of the contract: check the range against the region, clip each rectangle to
// the framebuffer, copy rows from the shadow (its pitch) into the dumb buffer (its own pitch).
bool FakeDrmGuest::copy_rects(uint32_t fb, capnp::List<wire::Rect>::Reader rects,
                              wire::RegionRef::Reader px, uint32_t pitch) {
  auto it = framebuffers_.find(fb);
  if (it == framebuffers_.end() || !region_) return false;
  Dumb& dumb = dumbs_.at(it->second);
  auto shadow = region_->mapping.slice(px.getOffset(), px.getLength());
  if (!shadow || pitch < dumb.width * 4 || uint64_t{pitch} * dumb.height > shadow->size())
    return false;
  auto copy = [&](uint32_t x, uint32_t y, uint32_t w, uint32_t h) {
    x = std::min(x, dumb.width);
    y = std::min(y, dumb.height);
    w = std::min(w, dumb.width - x);
    h = std::min(h, dumb.height - y);
    for (uint32_t row = y; row < y + h; ++row)
      std::memcpy(&dumb.pixels[row * (dumb.pitch / 4) + x],
                  shadow->data() + uint64_t{row} * pitch + uint64_t{x} * 4, std::size_t{w} * 4);
  };
  if (rects.size() == 0) copy(0, 0, dumb.width, dumb.height);
  for (auto r : rects) copy(r.getX(), r.getY(), r.getWidth(), r.getHeight());
  return true;
}

void FakeDrmGuest::on_event(uint16_t export_index, EventHandler handler) {
  std::lock_guard lock(events_mu_);
  handlers_[export_index] = std::move(handler);
}

void FakeDrmGuest::emit(std::function<void(wire::Event::Builder)> fill) {
  capnp::MallocMessageBuilder message;
  fill(message.initRoot<wire::Message>().initEvent());
  {
    std::lock_guard lock(events_mu_);
    events_.push_back(frame::encode(message));
  }
  events_cv_.notify_all();
}

void FakeDrmGuest::wait_events_delivered() {
  std::unique_lock lock(events_mu_);
  events_cv_.wait(lock, [&] { return events_.empty() && in_delivery_ == 0; });
}

// Delivers like GuestLink: by the event's export index, to that export's handler, if any.
void FakeDrmGuest::event_loop() {
  std::unique_lock lock(events_mu_);
  while (true) {
    events_cv_.wait(lock, [&] { return stop_ || !events_.empty(); });
    if (stop_) return;
    auto words = std::move(events_.front());
    events_.pop_front();
    ++in_delivery_;
    auto frame = through_wire(words);
    auto event = frame.message().getEvent();
    EventHandler handler;
    if (auto it = handlers_.find(event.getExport()); it != handlers_.end()) handler = it->second;
    lock.unlock();
    if (handler) handler(event);
    lock.lock();
    --in_delivery_;
    events_cv_.notify_all();
  }
}

uint32_t FakeDrmGuest::scanout(uint32_t x, uint32_t y) const {
  std::lock_guard lock(mu_);
  const Dumb& dumb = dumbs_.at(framebuffers_.at(shown_fb_));
  return dumb.pixels.at(std::size_t{y} * (dumb.pitch / 4) + x);
}

uint32_t FakeDrmGuest::shown_framebuffer() const {
  std::lock_guard lock(mu_);
  return shown_fb_;
}

uint32_t FakeDrmGuest::shown_width() const {
  std::lock_guard lock(mu_);
  if (shown_fb_ == 0) return 0;
  return dumbs_.at(framebuffers_.at(shown_fb_)).width;
}

std::size_t FakeDrmGuest::live_dumbs() const {
  std::lock_guard lock(mu_);
  return dumbs_.size();
}

std::size_t FakeDrmGuest::live_framebuffers() const {
  std::lock_guard lock(mu_);
  return framebuffers_.size();
}

std::size_t FakeDrmGuest::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

}  // namespace bridge::test
