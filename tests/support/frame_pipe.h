// FramePipe: whole wire frames over a plain blocking fd, for tests that play a (possibly
// hostile) guest by hand. Reads never go past a frame; writes are serialized, so an answering
// thread and the test may both send.
#pragma once

#include <unistd.h>

#include <mutex>
#include <optional>
#include <vector>

#include "schema/frame.h"

namespace bridge::test {

class FramePipe {
 public:
  explicit FramePipe(int fd) : fd_(fd) {}

  // The next frame, or nullopt when the peer closed or sent something undecodable.
  std::optional<frame::Frame> read() {
    while (true) {
      auto d = frame::decode(buf_);
      if (d) {
        auto f = std::move(d->frame);
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(d->consumed));
        return f;
      }
      if (d.code() != ENODATA) return std::nullopt;
      std::byte tmp[65536];
      ssize_t n = ::read(fd_, tmp, sizeof tmp);
      if (n <= 0) return std::nullopt;
      buf_.insert(buf_.end(), tmp, tmp + n);
    }
  }

  // True when every byte was written.
  bool send(capnp::MessageBuilder& message) {
    auto words = frame::encode(message);
    auto bytes = words.asBytes();
    std::lock_guard lock(write_mu_);
    return ::write(fd_, bytes.begin(), bytes.size()) == static_cast<ssize_t>(bytes.size());
  }

 private:
  int fd_;
  std::vector<std::byte> buf_;  // the reading thread's only
  std::mutex write_mu_;
};

}  // namespace bridge::test
