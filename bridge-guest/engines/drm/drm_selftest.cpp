// drm_selftest: the in-guest half of tests/vm/vm_drm_engine.sh. Drives CardDevice and the
// engine's copy routine the way the drm dispatch does (shadow -> dumb buffer -> dirty) and
// reports on stdout as "DRMTEST ..." lines; the host takes QMP screendumps between the steps
// and decides. The host says "go on" with one byte on a control tty (default /dev/ttyS1).
//
//   drm_selftest [CARD|auto] [CONTROL_TTY]
//
// Step 1: colour bars (8 equal vertical bars, kBars) with a 64x64 square of kSquare at
//         (64, 64), copied as a full frame. Step 2: only the 64x64 rect at (kRectX, kRectY)
//         is redrawn in kRect and copied + flushed. Then page flip, vblank and cursor are tried
//         and their outcome printed (no screendump depends on them).
#include <fcntl.h>
#include <poll.h>
#include <termios.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "bridge-guest/engines/drm/card_device.h"
#include "bridge-guest/engines/drm/pixel_copy.h"
#include "bridge-guest/engines/drm/scanout.h"

namespace {

using namespace bridge;
using namespace bridge::guest;

constexpr uint32_t kBars[8] = {0xffffff, 0xffff00, 0x00ffff, 0x00ff00,
                               0xff00ff, 0xff0000, 0x0000ff, 0x000000};
constexpr uint32_t kSquare = 0x123456;
constexpr uint32_t kRect = 0xabcdef;
constexpr uint32_t kSquareXY = 64, kRectX = 320, kRectY = 192, kSide = 64;

void say(const std::string& line) {
  std::printf("DRMTEST %s\n", line.c_str());
  std::fflush(stdout);
}

int fail(const std::string& what, const Error& e) {
  say("FAIL " + what + ": " + e.context + " (" + std::strerror(e.code) + ")");
  return 1;
}

// Waits up to 120 s for one byte from the host on the control tty.
bool wait_for_host(int tty) {
  pollfd p{tty, POLLIN, 0};
  if (::poll(&p, 1, 120'000) <= 0) return false;
  char c = 0;
  return ::read(tty, &c, 1) == 1;
}

int open_control(const char* path) {
  int fd = ::open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return -1;
  termios t{};
  if (::tcgetattr(fd, &t) == 0) {
    ::cfmakeraw(&t);
    ::tcsetattr(fd, TCSANOW, &t);
  }
  return fd;
}

struct Shadow {  // the host's shadow framebuffer, in malloc'd memory, with its own pitch
  std::vector<std::byte> bytes;
  uint32_t width, height, pitch;
  void fill(uint32_t x0, uint32_t y0, uint32_t w, uint32_t h, uint32_t xrgb) {
    for (uint32_t y = y0; y < y0 + h; ++y)
      for (uint32_t x = x0; x < x0 + w; ++x)
        std::memcpy(bytes.data() + std::size_t{y} * pitch + std::size_t{x} * 4, &xrgb, 4);
  }
  ConstPixelImage image() const { return {bytes, width, height, pitch}; }
};

// Prints every connector and the mode list the engine saw.
Status list_modes(DrmDevice& dev) {
  auto res = dev.resources();
  if (!res) return res.error();
  for (uint32_t id : res->connectors) {
    auto c = dev.connector(id);
    if (!c) return c.error();
    say("connector " + std::to_string(c->id) + " " + c->name +
        (c->connected ? " connected" : " disconnected") +
        " modes=" + std::to_string(c->modes.size()));
    for (const auto& m : c->modes) say("mode " + c->name + " " + mode_text(m));
  }
  return {};
}

struct Events {  // flip completions from the device's event thread
  std::mutex mu;
  std::condition_variable cv;
  std::vector<DrmEvent> seen;
  bool wait_for(DrmEvent::Kind kind, DrmEvent& out) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] {
      for (auto& e : seen)
        if (e.kind == kind) return out = e, true;
      return false;
    });
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string card_path = argc > 1 ? argv[1] : "auto";
  const char* control = argc > 2 ? argv[2] : "/dev/ttyS1";
  if (card_path == "auto") {
    auto found = CardDevice::find_auto();
    if (!found) return fail("find card", found.error());
    card_path = *found;
  }
  auto card = CardDevice::open(card_path);
  if (!card) return fail("open " + card_path, card.error());
  DrmDevice& dev = **card;
  const auto& caps = dev.caps();
  say("caps " + card_path + " driver=" + caps.driver +
      " scheme=" + display_scheme_name(caps.driver) + " vblank=" + std::to_string(caps.vblank) +
      " cursor=" + std::to_string(caps.cursor_width) + "x" + std::to_string(caps.cursor_height));
  Events events;
  dev.start_events([&events](const DrmEvent& e) {
    std::lock_guard lock(events.mu);
    events.seen.push_back(e);
    events.cv.notify_all();
  });

  if (auto st = list_modes(dev); !st) return fail("list connectors", st.error());
  auto output = pick_output(dev);
  if (!output) return fail("pick output", output.error());
  const DrmModeInfo mode = output->mode;
  const uint32_t crtc = output->crtc;
  const DrmConnectorInfo* conn = &output->connector;
  const uint32_t w = mode.hdisplay, h = mode.vdisplay;

  std::vector<ScanoutBuffer> bufs;
  for (int i = 0; i < 2; ++i) {  // two buffers: the second is the page flip's target
    auto buf = make_scanout_buffer(dev, w, h);
    if (!buf) return fail("scanout buffer", buf.error());
    bufs.push_back(*buf);
  }
  // A shadow pitch unlike the dumb buffer's, so the copy really converts pitches.
  Shadow shadow{std::vector<std::byte>(std::size_t{w * 4 + 256} * h), w, h, w * 4 + 256};
  for (uint32_t b = 0; b < 8; ++b) {
    const uint32_t x0 = b * w / 8, x1 = (b + 1) * w / 8;
    shadow.fill(x0, 0, x1 - x0, h, kBars[b]);
  }
  shadow.fill(kSquareXY, kSquareXY, kSide, kSide, kSquare);

  auto show = [&](int index, std::span<const PixelRect> rects) -> Status {
    auto pixels = dev.dumb_pixels(bufs[index].handle);
    if (!pixels) return pixels.error();
    const uint32_t pitch = bufs[index].pitch;
    if (auto st = check_image(pixels->size(), w, h, pitch, "dumb"); !st) return st;
    copy_rects(shadow.image(), PixelImage{*pixels, w, h, pitch}, rects);
    return dev.dirty(bufs[index].fb, rects);
  };
  const PixelRect full{0, 0, w, h};
  if (auto st = dev.set_crtc(crtc, bufs[0].fb, 0, 0, std::span(&conn->id, 1), mode); !st)
    return fail("modeset", st.error());
  if (auto st = show(0, std::span(&full, 1)); !st) return fail("full frame", st.error());
  say("modeset crtc=" + std::to_string(crtc) + " connector=" + conn->name + " " + mode_text(mode));

  int tty = open_control(control);
  if (tty < 0) return fail(std::string("open ") + control, make_error(errno, "control tty"));
  say("step1 ready " + std::to_string(w) + "x" + std::to_string(h));
  if (!wait_for_host(tty)) return fail("step1", make_error(ETIMEDOUT, "no word from the host"));

  shadow.fill(kRectX, kRectY, kSide, kSide, kRect);
  const PixelRect rect{kRectX, kRectY, kSide, kSide};
  if (auto st = show(0, std::span(&rect, 1)); !st) return fail("rect update", st.error());
  say("step2 ready rect=" + std::to_string(kRectX) + "," + std::to_string(kRectY) + "," +
      std::to_string(kSide) + "," + std::to_string(kSide));
  if (!wait_for_host(tty)) return fail("step2", make_error(ETIMEDOUT, "no word from the host"));

  // Page flip to the second buffer holding the same picture; its completion is an event.
  if (auto st = show(1, std::span(&full, 1)); !st) return fail("second buffer", st.error());
  if (auto st = dev.page_flip(crtc, bufs[1].fb, 0xc0ffee); !st) {
    say("flip unsupported: " + st.error().context + " (" + std::strerror(st.error().code) + ")");
  } else {
    DrmEvent e;
    say(events.wait_for(DrmEvent::Kind::flip_done, e)
            ? "flip done crtc=" + std::to_string(e.crtc) + " cookie=" + std::to_string(e.cookie)
            : "flip FAIL: no completion event within 10 s");
  }
  if (auto st = dev.request_vblank(crtc, 7); !st) {
    say(std::string("vblank unsupported: ") + std::strerror(st.error().code));
  } else {
    DrmEvent e;
    say(events.wait_for(DrmEvent::Kind::vblank, e)
            ? "vblank event cookie=" + std::to_string(e.cookie)
            : "vblank FAIL: no event within 10 s");
  }
  std::vector<std::byte> arrow(std::size_t{kSide} * kSide * 4, std::byte{0xff});
  auto cursor = dev.set_cursor(crtc, kSide, kSide, 0, 0, arrow);
  auto moved = cursor ? dev.move_cursor(crtc, 10, 10) : cursor;
  say(cursor && moved
          ? std::string("cursor ok")
          : std::string("cursor unsupported: ") + std::strerror((cursor ? moved : cursor).code()));
  say("done");
  return 0;
}
