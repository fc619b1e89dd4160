// libFuzzer target: the bytes a peer can put on the stream, read the way a daemon reads them.
// The input is treated as a stream: frames are decoded back to back until one is refused or the
// bytes run out; every decoded message is walked completely (tests/fuzz/message_walk.h) under
// try/catch(kj::Exception), then re-encoded and decoded again.
//
// Properties checked (a violation traps, so libFuzzer records the input):
//   - decode refuses only with ENODATA, EPROTO or EMSGSIZE, and `consumed` is within the input;
//   - a message that could be read and copied re-encodes to a frame that decodes again (or is
//     over the frame cap: capnp pointers may share targets, and a copy duplicates them).
// Crashes, sanitizer reports, leaks, timeouts and huge allocations are caught by libFuzzer.
#include <capnp/message.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>

#include "schema/frame.h"
#include "tests/fuzz/message_walk.h"

namespace {

using bridge::frame::decode;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void reencode(bridge::wire::Message::Reader message) {
  capnp::MallocMessageBuilder copy;
  copy.setRoot(message);  // may throw on malformed content, like any read
  auto words = bridge::frame::encode(copy);
  const auto bytes = words.asBytes();
  // INVARIANT: kj::byte and std::byte are both single bytes; viewing an array as the other
  // type changes neither size nor alignment, and the array outlives the span.
  auto again = decode(std::span(reinterpret_cast<const std::byte*>(bytes.begin()), bytes.size()));
  check(again.ok() || again.code() == EMSGSIZE);
  if (again.ok()) check(again->consumed == bytes.size());
}

void read_like_a_daemon(bridge::frame::Frame& frame) {
  try {
    bridge::fuzz::walk_message(frame.message());
    reencode(frame.message());
  } catch (const kj::Exception&) {
    // A malformed message: the daemon logs it and drops the connection. Nothing to check.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // INVARIANT: uint8_t and std::byte are both single bytes; libFuzzer keeps `data` alive and
  // unchanged for the duration of this call.
  std::span<const std::byte> rest(reinterpret_cast<const std::byte*>(data), size);
  while (!rest.empty()) {
    auto decoded = decode(rest);
    if (!decoded) {
      const int code = decoded.code();
      check(code == ENODATA || code == EPROTO || code == EMSGSIZE);
      break;
    }
    check(decoded->consumed > 0 && decoded->consumed <= rest.size());
    read_like_a_daemon(decoded->frame);
    rest = rest.subspan(decoded->consumed);
  }
  return 0;
}
