#include "bridge-host/frontends/display/display_session.h"

#include <spdlog/spdlog.h>

namespace bridge::host {
namespace {

using display::MsgType;

display::Mode client_mode(const DisplayMode& m) {
  return {m.hdisplay, m.vdisplay, m.vrefresh, m.preferred()};
}

display::BufferDesc client_buffer(const ShadowBuffer& b) {
  return {b.offset, b.length, b.pitch, b.width, b.height};
}

display::Info client_info(const DisplayInfo& info) {
  display::Info out{info.driver, {}};
  for (const auto& c : info.connectors) {
    display::Connector conn{c.id, c.connected, c.name, {}};
    for (const auto& m : c.modes) conn.modes.push_back(client_mode(m));
    out.connectors.push_back(std::move(conn));
  }
  return out;
}

std::vector<DisplayRect> scheme_rects(const std::vector<display::Rect>& rects) {
  std::vector<DisplayRect> out;
  out.reserve(rects.size());
  for (const auto& r : rects) out.push_back({r.x, r.y, r.width, r.height});
  return out;
}

const Error kMalformed{EPROTO, "malformed request"};

}  // namespace

DisplaySession::DisplaySession(SchemeRegistry& registry, std::string scheme, uint64_t owner_id,
                               pid_t pid, int sock)
    : registry_(registry), name_(std::move(scheme)), owner_{owner_id, pid}, sock_(sock) {
  listening_ = registry_.find_display(name_);
  if (!listening_) return;
  listener_ = listening_->add_hotplug_listener([sock](uint32_t connector) {
    auto packet = display::Writer(MsgType::hotplug).u32(connector);
    if (int err = display::send_packet(sock, packet.bytes(), -1, true))
      spdlog::debug("display client: hotplug event not delivered: {}", std::strerror(err));
  });
}

DisplaySession::~DisplaySession() {
  if (listening_) listening_->remove_hotplug_listener(listener_);
  if (attached_) (void)attached_->detach(owner_.id);
}

std::shared_ptr<RemoteDisplayScheme> DisplaySession::scheme(Error& error) {
  if (attached_) return attached_;
  auto found = registry_.find_display(name_);
  if (!found) error = make_error(ENODEV, name_ + " is offline: its guest is not connected");
  return found;
}

void DisplaySession::reply(uint32_t request, const Error* error, std::span<const std::byte> payload,
                           int fd) {
  display::Writer w(MsgType::reply);
  w.u32(request).i32(error ? error->code : 0).str(error ? error->context : std::string());
  auto bytes = w.bytes();
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  if (int err = display::send_packet(sock_, bytes, fd))
    spdlog::debug("display client pid {}: reply lost: {}", owner_.pid, std::strerror(err));
}

void DisplaySession::done(uint32_t type, const Status& status) {
  reply(type, status ? nullptr : &status.error(), {}, -1);
}

void DisplaySession::handle(std::span<const std::byte> packet) {
  display::Reader in(packet);
  auto type = in.u32();
  if (!type) return reply(0, &kMalformed, {}, -1);
  switch (static_cast<MsgType>(*type)) {
    case MsgType::info:
      return on_info(*type, in);
    case MsgType::attach:
      return on_attach(*type, in);
    case MsgType::damage:
      return on_rects(*type, in, false);
    case MsgType::flip:
      return on_rects(*type, in, true);
    case MsgType::set_cursor:
      return on_cursor(*type, in, true);
    case MsgType::move_cursor:
      return on_cursor(*type, in, false);
    case MsgType::detach:
      return on_detach(*type, in);
    default: {
      Error unknown{EPROTO, "unknown request type " + std::to_string(*type)};
      return reply(*type, &unknown, {}, -1);
    }
  }
}

void DisplaySession::on_info(uint32_t type, display::Reader& in) {
  if (!in.at_end()) return reply(type, &kMalformed, {}, -1);
  Error error;
  auto s = scheme(error);
  if (!s) return reply(type, &error, {}, -1);
  auto info = s->info();
  if (!info) return reply(type, &info.error(), {}, -1);
  display::Writer payload(MsgType::reply);
  display::put_info(payload, client_info(*info));
  // Drop the writer's own type word: the payload follows the reply header.
  reply(type, nullptr, std::span(payload.bytes()).subspan(4), -1);
}

void DisplaySession::on_attach(uint32_t type, display::Reader& in) {
  auto width = in.u32(), height = in.u32();
  if (!width || !height || !in.at_end()) return reply(type, &kMalformed, {}, -1);
  Error error;
  auto s = scheme(error);
  if (!s) return reply(type, &error, {}, -1);
  std::optional<std::pair<uint32_t, uint32_t>> want;
  if (*width != 0 || *height != 0) want = std::pair{*width, *height};
  auto attached = s->attach(owner_, want);
  if (!attached) return reply(type, &attached.error(), {}, -1);
  auto region = s->region();
  if (!region) {  // the guest went between attach and here
    (void)s->detach(owner_.id);
    Error gone{ENODEV, name_ + ": the shared region went away"};
    return reply(type, &gone, {}, -1);
  }
  attached_ = s;
  display::AttachReply a{client_mode(attached->mode),
                         {client_buffer(attached->buffers[0]), client_buffer(attached->buffers[1])},
                         client_buffer(attached->cursor)};
  display::Writer payload(MsgType::reply);
  display::put_attach(payload, a);
  reply(type, nullptr, std::span(payload.bytes()).subspan(4), region->mapping.fd());
}

void DisplaySession::on_rects(uint32_t type, display::Reader& in, bool flip) {
  auto buffer = in.u32();
  auto rects = in.rects();
  if (!buffer || !rects || !in.at_end()) return reply(type, &kMalformed, {}, -1);
  Error error;
  auto s = scheme(error);
  if (!s) return reply(type, &error, {}, -1);
  auto r = scheme_rects(*rects);
  done(type, flip ? s->flip(owner_.id, *buffer, r) : s->damage(owner_.id, *buffer, r));
}

void DisplaySession::on_cursor(uint32_t type, display::Reader& in, bool set) {
  Error error;
  if (set) {
    auto w = in.u32(), h = in.u32();
    auto hx = in.i32(), hy = in.i32();
    if (!w || !h || !hx || !hy || !in.at_end()) return reply(type, &kMalformed, {}, -1);
    auto s = scheme(error);
    if (!s) return reply(type, &error, {}, -1);
    return done(type, s->set_cursor(owner_.id, *w, *h, *hx, *hy));
  }
  auto x = in.i32(), y = in.i32();
  if (!x || !y || !in.at_end()) return reply(type, &kMalformed, {}, -1);
  auto s = scheme(error);
  if (!s) return reply(type, &error, {}, -1);
  done(type, s->move_cursor(owner_.id, *x, *y));
}

void DisplaySession::on_detach(uint32_t type, display::Reader& in) {
  if (!in.at_end()) return reply(type, &kMalformed, {}, -1);
  Status status;
  if (attached_) status = attached_->detach(owner_.id);
  attached_.reset();
  done(type, status);
}

}  // namespace bridge::host
