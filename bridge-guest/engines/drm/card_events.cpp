// CardDevice's event thread: page-flip and vblank completions from the card fd, DRM hotplug
// uevents from a NETLINK_KOBJECT_UEVENT socket.
#include <linux/netlink.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include <cstring>
#include <string_view>

#include "bridge-guest/engines/drm/card_device.h"

namespace bridge::guest {
namespace {

// drmHandleEvent's callbacks carry only the request's user data; the device handling events
// on this thread is found here. Set for the life of event_loop, on its own thread only.
thread_local CardDevice* t_device = nullptr;

uint64_t to_ns(unsigned sec, unsigned usec) {
  return uint64_t{sec} * 1'000'000'000 + uint64_t{usec} * 1000;
}

UniqueFd open_uevent_socket() {
  UniqueFd fd(
      ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT));
  if (!fd) return fd;
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = 1;  // the kernel's uevent multicast group
  // INVARIANT: addr is a sockaddr_nl of the size given.
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return UniqueFd();
  return fd;
}

}  // namespace

void CardDevice::start_events(DrmEventSink sink) {
  if (events_.joinable()) return;
  sink_ = std::move(sink);
  stop_fd_ = UniqueFd(::eventfd(0, EFD_CLOEXEC));
  if (!stop_fd_) {
    spdlog::warn("{}: no eventfd ({}): no flip, vblank or hotplug events", path_,
                 std::strerror(errno));
    return;
  }
  uevent_fd_ = open_uevent_socket();
  if (!uevent_fd_)
    spdlog::warn("{}: no uevent socket ({}): hotplug is not reported", path_, std::strerror(errno));
  if (auto res = resources(); res) {
    for (uint32_t id : res->connectors) {
      if (auto c = connector(id); c) connected_[id] = c->connected;
    }
  }
  events_ = std::thread([this] { event_loop(); });
}

void CardDevice::emit(const DrmEvent& event) {
  if (sink_) sink_(event);
}

void CardDevice::on_page_flip(int, unsigned sequence, unsigned sec, unsigned usec, unsigned crtc_id,
                              void* user) {
  DrmEvent e;
  e.kind = DrmEvent::Kind::flip_done;
  e.crtc = crtc_id;
  e.sequence = sequence;
  e.timestamp_ns = to_ns(sec, usec);
  // INVARIANT: user is the cookie page_flip passed in, not a pointer.
  e.cookie = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(user));
  if (t_device) t_device->emit(e);
}

void CardDevice::on_vblank(int, unsigned sequence, unsigned sec, unsigned usec, void* user) {
  CardDevice* self = t_device;
  if (!self) return;
  // INVARIANT: user is the token request_vblank registered, not a pointer.
  const auto token = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(user));
  DrmEvent e;
  e.kind = DrmEvent::Kind::vblank;
  {
    std::lock_guard lock(self->vblank_mu_);
    auto it = self->vblank_waits_.find(token);
    if (it == self->vblank_waits_.end()) return;
    e.crtc = it->second.first;
    e.cookie = it->second.second;
    self->vblank_waits_.erase(it);
  }
  e.sequence = sequence;
  e.timestamp_ns = to_ns(sec, usec);
  self->emit(e);
}

void CardDevice::event_loop() {
  t_device = this;
  drmEventContext ctx{};
  ctx.version = 3;  // page_flip_handler2: the event names its CRTC
  ctx.vblank_handler = &CardDevice::on_vblank;
  ctx.page_flip_handler2 = &CardDevice::on_page_flip;
  pollfd fds[3] = {
      {stop_fd_.get(), POLLIN, 0}, {fd_.get(), POLLIN, 0}, {uevent_fd_.get(), POLLIN, 0}};
  const nfds_t count = uevent_fd_ ? 3 : 2;
  while (true) {
    if (::poll(fds, count, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("{}: event poll failed ({}): no more DRM events", path_, std::strerror(errno));
      break;
    }
    if (fds[0].revents) break;
    if (fds[1].revents & POLLIN) drmHandleEvent(fd_.get(), &ctx);
    if (count == 3 && (fds[2].revents & POLLIN)) handle_uevent();
  }
  t_device = nullptr;
}

// A uevent is "ACTION@DEVPATH\0KEY=VALUE\0...". Only DRM hotplug changes of this card matter;
// then every connector's status is compared with the last one seen.
void CardDevice::handle_uevent() {
  char buf[8192];
  const ssize_t n = ::recv(uevent_fd_.get(), buf, sizeof buf, 0);
  if (n <= 0) return;
  bool drm = false, hotplug = false, ours = true;
  const std::string card = path_.substr(path_.rfind('/') + 1);
  std::string_view all(buf, static_cast<std::size_t>(n));
  for (std::size_t pos = 0; pos < all.size();) {
    std::size_t end = all.find('\0', pos);
    if (end == std::string_view::npos) end = all.size();
    auto kv = all.substr(pos, end - pos);
    drm = drm || kv == "SUBSYSTEM=drm";
    hotplug = hotplug || kv == "HOTPLUG=1";
    if (kv.starts_with("DEVNAME=")) ours = kv.ends_with("/" + card);
    pos = end + 1;
  }
  if (!drm || !hotplug || !ours) return;
  auto res = resources();
  if (!res) return;
  for (uint32_t id : res->connectors) {
    auto c = connector(id);
    if (!c) continue;
    auto it = connected_.find(id);
    if (it != connected_.end() && it->second == c->connected) continue;
    connected_[id] = c->connected;
    spdlog::info("{}: connector {} ({}) {}", path_, id, c->name,
                 c->connected ? "connected" : "disconnected");
    DrmEvent e;
    e.kind = DrmEvent::Kind::hotplug;
    e.connector = id;
    emit(e);
  }
}

}  // namespace bridge::guest
