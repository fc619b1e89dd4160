// libbridge_display: the client side of a display.<driver> scheme on a Linux host. Connects to
// bridge-host's display socket, attaches (becomes the display's one owner), maps the two shadow
// framebuffers from the region fd the host hands over, and sends damage and flips.
//
//   auto c = bridge::display::Client::connect("/run/redox-bridge/display.bochs.sock");
//   auto frame = c->attach();                // 2 buffers, XRGB8888, pitch = width * 4
//   draw(frame->buffers[1]); c->flip(1);      // returns when the guest has shown it
//
// Not thread-safe: one thread drives a Client.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "client/display_protocol.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace bridge::display {

// One mapped shadow buffer. Rows are `pitch` bytes; pixels are 0x00RRGGBB.
struct MappedBuffer {
  BufferDesc desc;
  std::span<std::byte> bytes;
  uint32_t* row(uint32_t y) const {
    // INVARIANT: the mapping is page-aligned and pitch is a multiple of 4.
    return reinterpret_cast<uint32_t*>(bytes.data() + uint64_t{y} * desc.pitch);
  }
};

struct Frame {
  Mode mode;
  MappedBuffer buffers[2];
  MappedBuffer cursor;  // ARGB8888, pitch = cursor width * 4
};

struct Event {
  uint32_t hotplug_connector = 0;
};

class Client {
 public:
  // ENOENT/ECONNREFUSED name the socket and say the daemon or scheme is not there.
  static Result<std::unique_ptr<Client>> connect(const std::string& path);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Result<Info> info();
  // `mode`: width x height among the connector's modes; none: the preferred one. EBUSY with
  // the owner's pid in the message when another client has the display.
  Result<Frame> attach(std::optional<std::pair<uint32_t, uint32_t>> mode = std::nullopt);
  Status damage(unsigned buffer, std::span<const Rect> rects = {});
  Status flip(unsigned buffer, std::span<const Rect> rects = {});
  Status set_cursor(uint32_t width, uint32_t height, int32_t hot_x, int32_t hot_y);
  Status move_cursor(int32_t x, int32_t y);
  Status detach();
  // Events that arrived while waiting for replies, oldest first; nullopt when none is queued.
  std::optional<Event> next_event();

  // For tests of a hostile client: sends raw bytes and returns the reply's errno.
  Result<int> send_raw(std::span<const std::byte> bytes);

 private:
  explicit Client(UniqueFd sock) : sock_(std::move(sock)) {}
  struct Reply {
    std::vector<std::byte> payload;
    UniqueFd fd;
  };
  Result<Reply> roundtrip(const Writer& request, uint32_t type);
  Status rects_request(MsgType type, unsigned buffer, std::span<const Rect> rects);
  void unmap();

  UniqueFd sock_;
  UniqueFd region_;
  std::deque<Event> events_;
  std::vector<std::span<std::byte>> mappings_;
};

}  // namespace bridge::display
