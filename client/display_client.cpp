#include "client/display_client.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

namespace bridge::display {
namespace {

Result<std::span<std::byte>> map_range(int fd, const BufferDesc& b) {
  if (b.length == 0 || b.offset % 4096 != 0 || b.pitch < uint64_t{b.width} * 4 ||
      uint64_t{b.pitch} * b.height > b.length)
    return make_error(EPROTO, "the host described an unusable buffer");
  // INVARIANT: offset is page-aligned and [offset, offset + length) is a lease the host holds
  // for us in the region fd; MAP_SHARED so the host (and guest) see what we draw.
  void* p = ::mmap(nullptr, b.length, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                   static_cast<off_t>(b.offset));
  if (p == MAP_FAILED) return make_error(errno, "mmap of a display buffer");
  return std::span<std::byte>(static_cast<std::byte*>(p), b.length);
}

}  // namespace

Result<std::unique_ptr<Client>> Client::connect(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path)
    return make_error(ENAMETOOLONG, "display socket path too long: " + path);
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd) return make_error(errno, "socket");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  // INVARIANT: addr is a fully initialized sockaddr_un.
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    return make_error(err, "cannot connect to " + path + ": " + std::strerror(err) +
                               " (is bridge-host running, and is a guest serving this display?)");
  }
  return std::unique_ptr<Client>(new Client(std::move(fd)));
}

Client::~Client() {
  unmap();
}

void Client::unmap() {
  for (auto m : mappings_) ::munmap(m.data(), m.size());
  mappings_.clear();
}

Result<Client::Reply> Client::roundtrip(const Writer& request, uint32_t type) {
  if (int err = send_packet(sock_.get(), request.bytes()))
    return make_error(err, "sending to the display server");
  while (true) {
    auto packet = recv_packet(sock_.get());
    UniqueFd fd(packet.fd);
    if (packet.error) return make_error(packet.error, "reading from the display server");
    if (packet.bytes.empty()) return make_error(ECONNRESET, "the display server closed");
    Reader in(packet.bytes);
    auto kind = in.u32();
    if (kind == static_cast<uint32_t>(MsgType::hotplug)) {
      if (auto c = in.u32()) events_.push_back({*c});
      continue;
    }
    auto request_type = in.u32();
    auto error = in.i32();
    auto message = in.str();
    if (kind != static_cast<uint32_t>(MsgType::reply) || !request_type || !error || !message)
      return make_error(EPROTO, "malformed packet from the display server");
    if (*request_type != type) return make_error(EPROTO, "reply to another request");
    if (*error != 0) return make_error(*error, *message);
    const std::size_t used = 16 + message->size();  // type, request, errno, string
    Reply reply;
    reply.payload.assign(packet.bytes.begin() + static_cast<std::ptrdiff_t>(used),
                         packet.bytes.end());
    reply.fd = std::move(fd);
    return reply;
  }
}

Result<Info> Client::info() {
  auto reply = roundtrip(Writer(MsgType::info), static_cast<uint32_t>(MsgType::info));
  if (!reply) return reply.error();
  Reader in(reply->payload);
  auto info = get_info(in);
  if (!info || !in.at_end()) return make_error(EPROTO, "malformed info from the display server");
  return std::move(*info);
}

Result<Frame> Client::attach(std::optional<std::pair<uint32_t, uint32_t>> mode) {
  Writer w(MsgType::attach);
  w.u32(mode ? mode->first : 0).u32(mode ? mode->second : 0);
  auto reply = roundtrip(w, static_cast<uint32_t>(MsgType::attach));
  if (!reply) return reply.error();
  Reader in(reply->payload);
  auto a = get_attach(in);
  if (!a || !in.at_end() || !reply->fd)
    return make_error(EPROTO, "malformed attach reply from the display server");
  unmap();
  region_ = std::move(reply->fd);
  Frame frame;
  frame.mode = a->mode;
  const BufferDesc* descs[3] = {&a->buffers[0], &a->buffers[1], &a->cursor};
  MappedBuffer* out[3] = {&frame.buffers[0], &frame.buffers[1], &frame.cursor};
  for (int i = 0; i < 3; ++i) {
    auto m = map_range(region_.get(), *descs[i]);
    if (!m) return m.error();
    mappings_.push_back(*m);
    *out[i] = {*descs[i], *m};
  }
  return frame;
}

Status Client::rects_request(MsgType type, unsigned buffer, std::span<const Rect> rects) {
  Writer w(type);
  w.u32(buffer).u32(static_cast<uint32_t>(rects.size()));
  for (const auto& r : rects) w.rect(r);
  auto reply = roundtrip(w, static_cast<uint32_t>(type));
  if (!reply) return reply.error();
  return {};
}

Status Client::damage(unsigned buffer, std::span<const Rect> rects) {
  return rects_request(MsgType::damage, buffer, rects);
}

Status Client::flip(unsigned buffer, std::span<const Rect> rects) {
  return rects_request(MsgType::flip, buffer, rects);
}

Status Client::set_cursor(uint32_t width, uint32_t height, int32_t hot_x, int32_t hot_y) {
  Writer w(MsgType::set_cursor);
  w.u32(width).u32(height).i32(hot_x).i32(hot_y);
  auto reply = roundtrip(w, static_cast<uint32_t>(MsgType::set_cursor));
  if (!reply) return reply.error();
  return {};
}

Status Client::move_cursor(int32_t x, int32_t y) {
  Writer w(MsgType::move_cursor);
  w.i32(x).i32(y);
  auto reply = roundtrip(w, static_cast<uint32_t>(MsgType::move_cursor));
  if (!reply) return reply.error();
  return {};
}

Status Client::detach() {
  auto reply = roundtrip(Writer(MsgType::detach), static_cast<uint32_t>(MsgType::detach));
  unmap();
  region_.reset();
  if (!reply) return reply.error();
  return {};
}

std::optional<Event> Client::next_event() {
  if (events_.empty()) return std::nullopt;
  auto e = events_.front();
  events_.pop_front();
  return e;
}

Result<int> Client::send_raw(std::span<const std::byte> bytes) {
  if (int err = send_packet(sock_.get(), bytes)) return make_error(err, "send");
  while (true) {
    auto packet = recv_packet(sock_.get());
    if (packet.fd >= 0) ::close(packet.fd);
    if (packet.error) return make_error(packet.error, "recv");
    if (packet.bytes.empty()) return make_error(ECONNRESET, "the display server closed");
    Reader in(packet.bytes);
    auto kind = in.u32();
    if (kind == static_cast<uint32_t>(MsgType::hotplug)) continue;
    (void)in.u32();  // the request type: any reply will do here
    auto error = in.i32();
    if (!error) return make_error(EPROTO, "malformed reply");
    return *error;
  }
}

}  // namespace bridge::display
