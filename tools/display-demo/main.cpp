// display-demo: draws a moving test pattern on a display.<driver> scheme through
// libbridge_display, and reports frames/s and damage-to-completion latency.
//   display-demo [--socket PATH] [--frames N] [--rect] [--side N]
// Default: full frames with flips (double-buffered). --rect: one buffer, a moving square sent
// as two small damage rectangles (where it was, where it is).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "client/display_client.h"

namespace {

using namespace bridge::display;
using bridge::Status;
using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    R"(Usage: display-demo [--socket PATH] [--frames N] [--rect] [--side N]

Animates a test pattern on a redox-bridge display and prints frames/s and the latency from
sending damage (or a flip) to its completion (median, p90).

  --socket PATH  the display's socket (default /run/redox-bridge/display.bochs.sock)
  --frames N     frames to draw (default 120)
  --rect         a moving square sent as damage rectangles instead of full-frame flips
  --side N       the square's side in pixels (default: an eighth of the smaller dimension)
)";

struct Options {
  std::string socket = "/run/redox-bridge/display.bochs.sock";
  int frames = 120;
  bool rect = false;
  uint32_t side = 0;  // 0: min(width, height) / 8
};

int usage_error(const std::string& what) {
  std::fprintf(stderr, "display-demo: %s (see --help)\n", what.c_str());
  return 2;
}

void colour_bars(const MappedBuffer& b, uint32_t shift) {
  static constexpr uint32_t kBars[] = {0xffffff, 0xffff00, 0x00ffff, 0x00ff00,
                                       0xff00ff, 0xff0000, 0x0000ff, 0x000000};
  for (uint32_t y = 0; y < b.desc.height; ++y) {
    uint32_t* row = b.row(y);
    for (uint32_t x = 0; x < b.desc.width; ++x)
      row[x] = kBars[((x + shift) * 8 / b.desc.width) % 8];
  }
}

void fill(const MappedBuffer& b, const Rect& r, uint32_t colour) {
  for (uint32_t y = r.y; y < r.y + r.height; ++y) std::fill_n(b.row(y) + r.x, r.width, colour);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

int run(const Options& opt) {
  auto client = Client::connect(opt.socket);
  if (!client) {
    std::fprintf(stderr, "display-demo: %s\n", client.error().context.c_str());
    return 1;
  }
  auto frame = (*client)->attach();
  if (!frame) {
    std::fprintf(stderr, "display-demo: cannot attach to %s: %s (%s)\n", opt.socket.c_str(),
                 frame.error().context.c_str(), std::strerror(frame.code()));
    return 1;
  }
  const uint32_t w = frame->mode.width, h = frame->mode.height;
  const uint32_t side = opt.side != 0 ? opt.side : std::min(w, h) / 8;
  if (opt.rect && (side >= w || side >= h)) {
    std::fprintf(stderr, "display-demo: --side %u does not fit %ux%u\n", side, w, h);
    (void)(*client)->detach();
    return 2;
  }
  if (opt.rect)
    std::printf("display-demo: %ux%u@%u, %d frames, damage rectangles (a %ux%u square)\n", w, h,
                frame->mode.refresh, opt.frames, side, side);
  else
    std::printf("display-demo: %ux%u@%u, %d frames, page flips\n", w, h, frame->mode.refresh,
                opt.frames);
  std::vector<double> latency_ms;
  Rect last{0, 0, side, side};
  if (opt.rect) {
    fill(frame->buffers[0], {0, 0, w, h}, 0x202020);
    if (auto st = (*client)->damage(0); !st)
      return std::fprintf(stderr, "display-demo: damage: %s\n", st.error().context.c_str()), 1;
  }
  auto start = Clock::now();
  for (int i = 0; i < opt.frames; ++i) {
    Status st;
    auto t0 = Clock::now();
    if (opt.rect) {
      Rect now{(static_cast<uint32_t>(i) * 7) % (w - side),
               (static_cast<uint32_t>(i) * 5) % (h - side), side, side};
      fill(frame->buffers[0], last, 0x202020);
      fill(frame->buffers[0], now, 0xff8000);
      Rect rects[] = {last, now};
      t0 = Clock::now();
      st = (*client)->damage(0, rects);
      last = now;
    } else {
      const unsigned b = static_cast<unsigned>((i + 1) % 2);  // buffer 0 is on screen first
      colour_bars(frame->buffers[b], static_cast<uint32_t>(i) * 8);
      t0 = Clock::now();
      st = (*client)->flip(b);
    }
    if (!st) {
      std::fprintf(stderr, "display-demo: frame %d: %s (%s)\n", i, st.error().context.c_str(),
                   std::strerror(st.code()));
      return 1;
    }
    latency_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    while (auto e = (*client)->next_event())
      std::printf("display-demo: hotplug on connector %u\n", e->hotplug_connector);
  }
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("frames: %d in %.2f s = %.1f frames/s\n", opt.frames, secs,
              secs > 0 ? opt.frames / secs : 0.0);
  std::printf("damage-to-completion latency: median %.3f ms, p90 %.3f ms\n",
              percentile(latency_ms, 0.5), percentile(latency_ms, 0.9));
  (void)(*client)->detach();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help") return std::fputs(kUsage, stdout), 0;
    if (a == "--rect") {
      opt.rect = true;
    } else if (a == "--socket" || a == "--frames" || a == "--side") {
      if (i + 1 >= argc) return usage_error(a + " needs a value");
      std::string v = argv[++i];
      if (a == "--socket") {
        opt.socket = v;
      } else if (a == "--side") {
        char* end = nullptr;
        long n = std::strtol(v.c_str(), &end, 10);
        if (*end != '\0' || n < 1 || n > 8192) return usage_error("--side must be 1..8192");
        opt.side = static_cast<uint32_t>(n);
      } else {
        char* end = nullptr;
        long n = std::strtol(v.c_str(), &end, 10);
        if (*end != '\0' || n < 1 || n > 1000000) return usage_error("--frames must be 1..1000000");
        opt.frames = static_cast<int>(n);
      }
    } else {
      return usage_error("unknown argument '" + a + "'");
    }
  }
  return run(opt);
}
