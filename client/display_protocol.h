// The display client protocol: how a Linux app talks to bridge-host's display frontend over
// the unix socket `<dir>/display.<driver>.sock`.
//
// Why not Cap'n Proto framing like the guest protocol: the socket must carry the region's file
// descriptor (SCM_RIGHTS), which needs a message boundary to attach it to, and the messages are
// a handful of fixed fields. A SOCK_SEQPACKET socket gives boundaries for free; a fixed binary
// layout keeps the client library free of capnp and the parser a page long.
//
// Wire format: one request or reply per packet, at most kPacketMax bytes, native byte order
// (both ends are on one machine). Every packet starts with u32 type.
//   client -> server
//     Info        {}
//     Attach      {u32 width, u32 height}              0 x 0: the preferred mode
//     Damage      {u32 buffer, u32 count, Rect[count]} count 0: the whole buffer
//     Flip        {u32 buffer, u32 count, Rect[count]} answered when the flip is done
//     SetCursor   {u32 width, u32 height, i32 hot_x, i32 hot_y}   pixels: the cursor buffer
//     MoveCursor  {i32 x, i32 y}
//     Detach      {}
//     Rect = {u32 x, u32 y, u32 width, u32 height}
//   server -> client
//     Reply       {u32 request_type, i32 errno (0: ok), str message, payload}
//       Info payload:   str driver, u32 n, n x {u32 id, u32 connected, str name, u32 m,
//                       m x {u32 width, u32 height, u32 refresh, u32 preferred}}
//       Attach payload: u32 width, u32 height, u32 refresh, 3 x Buffer (two framebuffers,
//                       then the cursor), Buffer = {u64 offset, u64 length, u32 pitch,
//                       u32 width, u32 height}; the region's fd rides along (SCM_RIGHTS)
//     Hotplug     {u32 connector}  unsolicited, between replies
//   str = {u32 length, bytes}, length bounded by the reader.
// Errors are the host's errno values (server and client share a kernel).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace bridge::display {

inline constexpr std::size_t kPacketMax = 65536;
inline constexpr uint32_t kRectsMax = 256;
inline constexpr uint32_t kStringMax = 512;
inline constexpr uint32_t kListMax = 256;

enum class MsgType : uint32_t {
  info = 1,
  attach = 2,
  damage = 3,
  flip = 4,
  set_cursor = 5,
  move_cursor = 6,
  detach = 7,
  reply = 0x100,
  hotplug = 0x200,
};

struct Rect {
  uint32_t x = 0, y = 0, width = 0, height = 0;
};

struct Mode {
  uint32_t width = 0, height = 0, refresh = 0;
  bool preferred = false;
};

struct Connector {
  uint32_t id = 0;
  bool connected = false;
  std::string name;
  std::vector<Mode> modes;
};

struct Info {
  std::string driver;
  std::vector<Connector> connectors;
};

// A range of the region fd: what the client maps.
struct BufferDesc {
  uint64_t offset = 0, length = 0;
  uint32_t pitch = 0, width = 0, height = 0;
};

struct AttachReply {
  Mode mode;
  BufferDesc buffers[2];
  BufferDesc cursor;
};

// Builds one packet.
class Writer {
 public:
  explicit Writer(MsgType type) { u32(static_cast<uint32_t>(type)); }
  Writer& u32(uint32_t v) { return raw(&v, sizeof v); }
  Writer& i32(int32_t v) { return raw(&v, sizeof v); }
  Writer& u64(uint64_t v) { return raw(&v, sizeof v); }
  Writer& str(const std::string& s);
  Writer& rect(const Rect& r) { return u32(r.x).u32(r.y).u32(r.width).u32(r.height); }
  Writer& buffer(const BufferDesc& b) {
    return u64(b.offset).u64(b.length).u32(b.pitch).u32(b.width).u32(b.height);
  }
  const std::vector<std::byte>& bytes() const { return bytes_; }

 private:
  Writer& raw(const void* p, std::size_t n);
  std::vector<std::byte> bytes_;
};

// Reads one packet; every getter fails (nullopt) instead of reading past the end.
class Reader {
 public:
  explicit Reader(std::span<const std::byte> bytes) : bytes_(bytes) {}
  std::optional<uint32_t> u32();
  std::optional<int32_t> i32();
  std::optional<uint64_t> u64();
  std::optional<std::string> str(uint32_t max = kStringMax);
  std::optional<Rect> rect();
  std::optional<BufferDesc> buffer();
  // Rects as {u32 count, Rect[count]}; count above kRectsMax fails.
  std::optional<std::vector<Rect>> rects();
  bool at_end() const { return pos_ == bytes_.size(); }

 private:
  bool raw(void* p, std::size_t n);
  std::span<const std::byte> bytes_;
  std::size_t pos_ = 0;
};

// Info payloads, shared by both ends so they cannot disagree.
void put_info(Writer& w, const Info& info);
std::optional<Info> get_info(Reader& r);
void put_attach(Writer& w, const AttachReply& a);
std::optional<AttachReply> get_attach(Reader& r);

// Packet I/O on a SOCK_SEQPACKET socket, retrying EINTR. send_packet attaches `fd` when >= 0.
// recv_packet returns the packet (empty vector: the peer closed) and an fd if one came with it;
// a packet longer than kPacketMax is EMSGSIZE.
int send_packet(int sock, std::span<const std::byte> bytes, int fd = -1, bool nonblocking = false);
struct Received {
  std::vector<std::byte> bytes;
  int fd = -1;  // owned by the caller
  int error = 0;
};
Received recv_packet(int sock);

}  // namespace bridge::display
