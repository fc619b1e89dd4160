#include "client/display_protocol.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fd_passing.h"

namespace bridge::display {

Writer& Writer::raw(const void* p, std::size_t n) {
  auto* b = static_cast<const std::byte*>(p);
  bytes_.insert(bytes_.end(), b, b + n);
  return *this;
}

Writer& Writer::str(const std::string& s) {
  u32(static_cast<uint32_t>(s.size()));
  return raw(s.data(), s.size());
}

bool Reader::raw(void* p, std::size_t n) {
  if (n > bytes_.size() - pos_) return false;
  std::memcpy(p, bytes_.data() + pos_, n);
  pos_ += n;
  return true;
}

std::optional<uint32_t> Reader::u32() {
  uint32_t v;
  return raw(&v, sizeof v) ? std::optional(v) : std::nullopt;
}

std::optional<int32_t> Reader::i32() {
  int32_t v;
  return raw(&v, sizeof v) ? std::optional(v) : std::nullopt;
}

std::optional<uint64_t> Reader::u64() {
  uint64_t v;
  return raw(&v, sizeof v) ? std::optional(v) : std::nullopt;
}

std::optional<std::string> Reader::str(uint32_t max) {
  auto n = u32();
  if (!n || *n > max || *n > bytes_.size() - pos_) return std::nullopt;
  std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), *n);  // INVARIANT: bytes
  pos_ += *n;
  return s;
}

std::optional<Rect> Reader::rect() {
  auto x = u32(), y = u32(), w = u32(), h = u32();
  if (!x || !y || !w || !h) return std::nullopt;
  return Rect{*x, *y, *w, *h};
}

std::optional<BufferDesc> Reader::buffer() {
  auto offset = u64(), length = u64();
  auto pitch = u32(), width = u32(), height = u32();
  if (!offset || !length || !pitch || !width || !height) return std::nullopt;
  return BufferDesc{*offset, *length, *pitch, *width, *height};
}

std::optional<std::vector<Rect>> Reader::rects() {
  auto n = u32();
  if (!n || *n > kRectsMax) return std::nullopt;
  std::vector<Rect> out;
  for (uint32_t i = 0; i < *n; ++i) {
    auto r = rect();
    if (!r) return std::nullopt;
    out.push_back(*r);
  }
  return out;
}

void put_info(Writer& w, const Info& info) {
  w.str(info.driver).u32(static_cast<uint32_t>(info.connectors.size()));
  for (const auto& c : info.connectors) {
    w.u32(c.id).u32(c.connected).str(c.name).u32(static_cast<uint32_t>(c.modes.size()));
    for (const auto& m : c.modes) w.u32(m.width).u32(m.height).u32(m.refresh).u32(m.preferred);
  }
}

std::optional<Info> get_info(Reader& r) {
  Info info;
  auto driver = r.str();
  auto n = r.u32();
  if (!driver || !n || *n > kListMax) return std::nullopt;
  info.driver = *driver;
  for (uint32_t i = 0; i < *n; ++i) {
    Connector c;
    auto id = r.u32(), connected = r.u32();
    auto name = r.str();
    auto m = r.u32();
    if (!id || !connected || !name || !m || *m > kListMax) return std::nullopt;
    c.id = *id;
    c.connected = *connected != 0;
    c.name = *name;
    for (uint32_t j = 0; j < *m; ++j) {
      auto width = r.u32(), height = r.u32(), refresh = r.u32(), preferred = r.u32();
      if (!width || !height || !refresh || !preferred) return std::nullopt;
      c.modes.push_back({*width, *height, *refresh, *preferred != 0});
    }
    info.connectors.push_back(std::move(c));
  }
  return info;
}

void put_attach(Writer& w, const AttachReply& a) {
  w.u32(a.mode.width).u32(a.mode.height).u32(a.mode.refresh);
  w.buffer(a.buffers[0]).buffer(a.buffers[1]).buffer(a.cursor);
}

std::optional<AttachReply> get_attach(Reader& r) {
  AttachReply a;
  auto width = r.u32(), height = r.u32(), refresh = r.u32();
  auto b0 = r.buffer(), b1 = r.buffer(), cursor = r.buffer();
  if (!width || !height || !refresh || !b0 || !b1 || !cursor) return std::nullopt;
  a.mode = {*width, *height, *refresh, false};
  a.buffers[0] = *b0;
  a.buffers[1] = *b1;
  a.cursor = *cursor;
  return a;
}

int send_packet(int sock, std::span<const std::byte> bytes, int fd, bool nonblocking) {
  const int flags = MSG_NOSIGNAL | (nonblocking ? MSG_DONTWAIT : 0);
  return sendmsg_fd(sock, bytes, fd, flags) >= 0 ? 0 : errno;
}

Received recv_packet(int sock) {
  Received out;
  out.bytes.resize(kPacketMax);
  int msg_flags = 0;
  ssize_t n = recvmsg_fd(sock, out.bytes, 0, &out.fd, &msg_flags);
  if (n < 0) {
    out.error = errno;
    out.bytes.clear();
    return out;
  }
  if (msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {  // the fd is ours even when the packet is refused
    if (out.fd >= 0) ::close(out.fd);
    out.fd = -1;
    out.error = EMSGSIZE;
    out.bytes.clear();
    return out;
  }
  out.bytes.resize(static_cast<std::size_t>(n));
  return out;
}

}  // namespace bridge::display
