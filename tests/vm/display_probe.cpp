// display_probe: a display client for tests/vm/vm_display.sh, driven by commands on stdin, one
// result line per command on stdout ("ok <cmd> ..." or "err <cmd> <ERRNO-NAME>: <message>").
// The client keeps the display while it runs, so the test can take screendumps in between.
//
//   display_probe SOCKET
//   commands:
//     info                 the mode list of the connected connector:
//                          "ok info driver=D connector=NAME modes=WxH@R,... preferred=WxH"
//     attach [WxH]         become the owner: "ok attach WxH pitch=P"
//     bars                 colour bars (8 vertical) plus a 64x64 0x123456 square at (64,64) into
//                          the back buffer, flipped to the screen (waits for the flip done)
//     fill X Y W H RRGGBB  fills the rect in the buffer on screen and sends it as damage
//     hold SECONDS         sleeps (still attached)
//     detach | quit
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "client/display_client.h"

namespace {

using namespace bridge::display;

constexpr uint32_t kBars[] = {0xffffff, 0xffff00, 0x00ffff, 0x00ff00,
                              0xff00ff, 0xff0000, 0x0000ff, 0x000000};

const char* errno_name(int code) {
  switch (code) {
    case EBUSY:
      return "EBUSY";
    case EINVAL:
      return "EINVAL";
    case EPERM:
      return "EPERM";
    case ENODEV:
      return "ENODEV";
    case EIO:
      return "EIO";
    case ETIMEDOUT:
      return "ETIMEDOUT";
    case ENOENT:
      return "ENOENT";
    case ECONNREFUSED:
      return "ECONNREFUSED";
    case ENOSYS:
      return "ENOSYS";
    case EFAULT:
      return "EFAULT";
    default:
      return "E?";
  }
}

void say_err(const std::string& cmd, const bridge::Error& e) {
  std::printf("err %s %s: %s (%s)\n", cmd.c_str(), errno_name(e.code), e.context.c_str(),
              std::strerror(e.code));
}

void fill(const MappedBuffer& b, const Rect& r, uint32_t colour) {
  for (uint32_t y = r.y; y < r.y + r.height; ++y) std::fill_n(b.row(y) + r.x, r.width, colour);
}

class Probe {
 public:
  explicit Probe(std::unique_ptr<Client> client) : client_(std::move(client)) {}

  void run(const std::string& line) {
    std::istringstream in(line);
    std::string cmd;
    if (!(in >> cmd)) return;
    if (cmd == "info") {
      info();
    } else if (cmd == "attach") {
      std::string want;
      in >> want;
      attach(want);
    } else if (cmd == "bars") {
      bars();
    } else if (cmd == "fill") {
      Rect r;
      std::string hex;
      if (!(in >> r.x >> r.y >> r.width >> r.height >> hex) || hex.size() != 6)
        return (void)std::printf("err fill EINVAL: usage: fill X Y W H RRGGBB\n");
      fill_rect(r, static_cast<uint32_t>(std::stoul(hex, nullptr, 16)));
    } else if (cmd == "hold") {
      double secs = 0;
      in >> secs;
      std::this_thread::sleep_for(std::chrono::duration<double>(secs));
      std::printf("ok hold\n");
    } else if (cmd == "detach") {
      frame_.reset();
      if (auto st = client_->detach(); !st) return say_err(cmd, st.error());
      std::printf("ok detach\n");
    } else {
      std::printf("err %s EINVAL: unknown command\n", cmd.c_str());
    }
  }

 private:
  void info() {
    auto info = client_->info();
    if (!info) return say_err("info", info.error());
    for (const auto& c : info->connectors) {
      if (!c.connected) continue;
      std::string modes, preferred = "none";
      for (const auto& m : c.modes) {
        std::string wh = std::to_string(m.width) + "x" + std::to_string(m.height);
        modes += (modes.empty() ? "" : ",") + wh + "@" + std::to_string(m.refresh);
        if (m.preferred && preferred == "none") preferred = wh;
      }
      std::printf("ok info driver=%s connector=%s modes=%s preferred=%s\n", info->driver.c_str(),
                  c.name.c_str(), modes.c_str(), preferred.c_str());
      return;
    }
    std::printf("err info ENODEV: no connected connector\n");
  }

  void attach(const std::string& want) {
    std::optional<std::pair<uint32_t, uint32_t>> mode;
    if (!want.empty()) {
      unsigned w = 0, h = 0;
      if (std::sscanf(want.c_str(), "%ux%u", &w, &h) != 2)
        return (void)std::printf("err attach EINVAL: mode is WxH\n");
      mode = std::pair{w, h};
    }
    auto frame = client_->attach(mode);
    if (!frame) return say_err("attach", frame.error());
    frame_ = std::move(*frame);
    front_ = 0;
    std::printf("ok attach %ux%u pitch=%u\n", frame_->mode.width, frame_->mode.height,
                frame_->buffers[0].desc.pitch);
  }

  void bars() {
    if (!frame_) return (void)std::printf("err bars EPERM: attach first\n");
    const unsigned back = 1 - front_;
    const auto& b = frame_->buffers[back];
    const uint32_t w = b.desc.width;
    for (uint32_t y = 0; y < b.desc.height; ++y) {
      uint32_t* row = b.row(y);
      for (uint32_t x = 0; x < w; ++x) row[x] = kBars[x * 8 / w];
    }
    fill(b, {64, 64, 64, 64}, 0x123456);
    if (auto st = client_->flip(back); !st) return say_err("bars", st.error());
    // Both buffers hold the picture, so that later damage on the front one starts from it.
    const auto& other = frame_->buffers[front_];
    for (uint32_t y = 0; y < b.desc.height; ++y)
      std::memcpy(other.row(y), b.row(y), std::size_t{w} * 4);
    front_ = back;
    std::printf("ok bars front=%u\n", front_);
  }

  void fill_rect(const Rect& r, uint32_t colour) {
    if (!frame_) return (void)std::printf("err fill EPERM: attach first\n");
    const auto& b = frame_->buffers[front_];
    if (r.x + uint64_t{r.width} > b.desc.width || r.y + uint64_t{r.height} > b.desc.height)
      return (void)std::printf("err fill EINVAL: rect outside the frame\n");
    fill(b, r, colour);
    Rect rects[] = {r};
    if (auto st = client_->damage(front_, rects); !st) return say_err("fill", st.error());
    std::printf("ok fill\n");
  }

  std::unique_ptr<Client> client_;
  std::optional<Frame> frame_;
  unsigned front_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: display_probe SOCKET (commands on stdin)\n");
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  auto client = Client::connect(argv[1]);
  if (!client) {
    std::printf("err connect %s: %s\n", errno_name(client.code()), client.error().context.c_str());
    return 1;
  }
  Probe probe(std::move(*client));
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "quit") break;
    probe.run(line);
  }
  return 0;
}
