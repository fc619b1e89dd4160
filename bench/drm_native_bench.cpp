// drm_native_bench: the guest-side work of one display update without the bridge, as a
// baseline for the bridge path. Per update it draws into a malloc'd shadow (a host pitch unlike
// the dumb buffer's), copies the damage into the dumb buffer with the engine's copy_rects and
// flushes it with dirty, exactly as DrmDispatch does for a DirtyReq. Two workloads: full
// frames, and a 64x64 rect moving across the screen. Prints a table and one JSON line.
// Never pass/fail.
//
//   drm_native_bench [--card /dev/dri/cardN|auto] [--updates N]     (default auto, 200)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bridge-guest/engines/drm/card_device.h"
#include "bridge-guest/engines/drm/pixel_copy.h"
#include "bridge-guest/engines/drm/scanout.h"

namespace {

using namespace bridge;
using namespace bridge::guest;
using Clock = std::chrono::steady_clock;

struct Stats {
  double per_second = 0, median_us = 0, p90_us = 0;
};

Stats summarize(std::vector<double> latencies_us, double wall_s) {
  std::sort(latencies_us.begin(), latencies_us.end());
  const std::size_t n = latencies_us.size();
  return Stats{static_cast<double>(n) / wall_s, latencies_us[n / 2], latencies_us[n * 9 / 10]};
}

struct Target {
  DrmDevice& dev;
  ScanoutBuffer buf;
  uint32_t width, height;
  std::vector<std::byte> shadow;
  uint32_t shadow_pitch;
};

// One workload: `updates` updates of `side` x `side` rects (0: full frames). Latency is the
// copy + dirty of one update; the rate includes drawing.
Result<Stats> run(Target& t, uint32_t side, int updates) {
  auto pixels = t.dev.dumb_pixels(t.buf.handle);
  if (!pixels) return pixels.error();
  PixelImage dst{*pixels, t.width, t.height, t.buf.pitch};
  ConstPixelImage src{t.shadow, t.width, t.height, t.shadow_pitch};
  std::vector<double> lat;
  const auto start = Clock::now();
  for (int i = 0; i < updates; ++i) {
    PixelRect r{0, 0, t.width, t.height};
    if (side != 0)
      r = PixelRect{(static_cast<uint32_t>(i) * 37) % (t.width - side),
                    (static_cast<uint32_t>(i) * 23) % (t.height - side), side, side};
    const uint32_t colour = 0x010203u * static_cast<uint32_t>(i);
    for (uint32_t y = r.y; y < r.y + r.height; ++y)
      std::fill_n(
          reinterpret_cast<uint32_t*>(t.shadow.data() + std::size_t{y} * t.shadow_pitch) + r.x,
          r.width, colour);
    const auto t0 = Clock::now();
    copy_rects(src, dst, std::span(&r, 1));
    if (auto st = t.dev.dirty(t.buf.fb, std::span(&r, 1)); !st) return st.error();
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  return summarize(std::move(lat), wall);
}

int fail(const std::string& what, const Error& e) {
  std::fprintf(stderr, "drm_native_bench: %s: %s (%s)\n", what.c_str(), e.context.c_str(),
               std::strerror(e.code));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string card_path = "auto";
  int updates = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--card")
      card_path = argv[i + 1];
    else if (a == "--updates")
      updates = std::max(1, std::atoi(argv[i + 1]));
  }
  if (card_path == "auto") {
    auto found = CardDevice::find_auto();
    if (!found) return fail("find card", found.error());
    card_path = *found;
  }
  auto card = CardDevice::open(card_path);
  if (!card) return fail("open", card.error());
  auto out = pick_output(**card);
  if (!out) return fail("output", out.error());
  const uint32_t w = out->mode.hdisplay, h = out->mode.vdisplay;
  auto buf = make_scanout_buffer(**card, w, h);
  if (!buf) return fail("buffer", buf.error());
  if (auto st =
          (*card)->set_crtc(out->crtc, buf->fb, 0, 0, std::span(&out->connector.id, 1), out->mode);
      !st)
    return fail("modeset", st.error());
  const uint32_t spitch = w * 4 + 256;
  Target t{**card, *buf, w, h, std::vector<std::byte>(std::size_t{spitch} * h), spitch};
  auto full = run(t, 0, updates);
  if (!full) return fail("full frames", full.error());
  auto rect = run(t, 64, updates * 5);
  if (!rect) return fail("64x64 rects", rect.error());
  const std::string driver = (*card)->caps().driver;
  std::printf("driver %s, %ux%u, native (no bridge): copy_rects + dirty\n", driver.c_str(), w, h);
  std::printf("%-12s %12s %12s %12s\n", "workload", "updates/s", "median us", "p90 us");
  std::printf("%-12s %12.1f %12.1f %12.1f\n", "full frame", full->per_second, full->median_us,
              full->p90_us);
  std::printf("%-12s %12.1f %12.1f %12.1f\n", "rect 64x64", rect->per_second, rect->median_us,
              rect->p90_us);
  std::printf(
      "{\"bench\":\"drm_native\",\"driver\":\"%s\",\"width\":%u,\"height\":%u,"
      "\"full\":{\"per_s\":%.1f,\"median_us\":%.1f,\"p90_us\":%.1f},"
      "\"rect64\":{\"per_s\":%.1f,\"median_us\":%.1f,\"p90_us\":%.1f}}\n",
      driver.c_str(), w, h, full->per_second, full->median_us, full->p90_us, rect->per_second,
      rect->median_us, rect->p90_us);
  return 0;
}
