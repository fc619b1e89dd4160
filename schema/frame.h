// Framing of bridge.capnp messages on a byte stream (the standard Cap'n Proto stream encoding):
//
//   u32 le  segment count - 1
//   u32 le  size of segment 0 in words, then of each further segment
//   u32     zero padding when the count is even, so the table ends on a word boundary
//   ...     the segments, back to back, each a whole number of 8-byte words
//
// The decoder is pure (no I/O) so that it can be fuzzed and unit-tested alone;
// common/framed_stream.h runs the same checks on an Asio stream. Limits are checked before anything
// is allocated: a segment count of 0xFFFFFFFF (count - 1 would wrap) or above Limits::max_segments,
// and a total size above Limits::max_bytes, are refused with EPROTO/EMSGSIZE. Reading the message
// afterwards goes through capnp::ReaderOptions with an explicit traversal and nesting limit; a
// malformed pointer then throws kj::Exception, which callers catch at the message edge. The
// traversal budget of a Frame scales with that frame's own size (see reader_options below), so that
// a tiny frame cannot buy millions of reads (a list of 2^20 zero-size structs fits in 16 bytes).
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "common/result.h"
#include "schema/bridge.capnp.h"

namespace bridge::frame {

struct Limits {
  uint32_t max_segments = wire::SEGMENTS_MAX;
  std::size_t max_bytes = wire::FRAME_MAX;  // segment table included
};

inline capnp::ReaderOptions reader_options(const Limits& limits) {
  capnp::ReaderOptions options;
  // A few times the frame in words: enough for honest messages, bounded for amplification.
  options.traversalLimitInWords = 4 * (limits.max_bytes / sizeof(capnp::word));
  options.nestingLimit = 16;
  return options;
}

// Words an honest reader of a small message may spend re-reading fields (64 KiB).
inline constexpr uint64_t kTraversalFloorWords = 8192;

// The budget for one frame of `frame_words` words: four reads of the whole frame plus the floor,
// never more than the cap-based budget above. A daemon's work per frame is then proportional to
// the bytes the peer actually sent.
inline capnp::ReaderOptions reader_options(const Limits& limits, std::size_t frame_words) {
  capnp::ReaderOptions options = reader_options(limits);
  const uint64_t own = 4 * uint64_t{frame_words} + kTraversalFloorWords;
  if (own < options.traversalLimitInWords) options.traversalLimitInWords = own;
  return options;
}

// Bytes in the segment table of a frame whose first word (8 bytes) is `head`.
Result<std::size_t> table_bytes(std::span<const std::byte, 8> head, const Limits& limits);

struct Layout {
  std::size_t table_bytes = 0;
  std::size_t body_bytes = 0;  // all segments
  std::size_t total_bytes() const { return table_bytes + body_bytes; }
};

// Checks a complete segment table (table_bytes() long) and sizes the frame.
Result<Layout> parse_table(std::span<const std::byte> table, const Limits& limits);

// One received message. Owns its bytes; the reader borrows them.
class Frame {
 public:
  // `words` holds the whole frame (table and body) as described by a checked Layout.
  Frame(kj::Array<capnp::word> words, const Limits& limits);
  Frame(Frame&&) = default;
  // Not defaulted: the default assigns words_ first, freeing the bytes the old reader_ still
  // points into. The reader must go before the bytes it borrows.
  Frame& operator=(Frame&& other) noexcept;

  // May throw kj::Exception on malformed content: read under try/catch at the edge.
  wire::Message::Reader message() { return reader_->getRoot<wire::Message>(); }
  std::size_t size_bytes() const { return words_.size() * sizeof(capnp::word); }

 private:
  // Declaration order matters: reader_ borrows words_, so it is destroyed first.
  kj::Array<capnp::word> words_;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
};

// Decodes the frame at the start of `bytes`. ENODATA when more bytes are needed;
// on success `consumed` is the frame's length.
struct Decoded {
  Frame frame;
  std::size_t consumed;
};
Result<Decoded> decode(std::span<const std::byte> bytes, const Limits& limits = {});

// The stream encoding of a built message.
kj::Array<capnp::word> encode(capnp::MessageBuilder& message);

}  // namespace bridge::frame
