#include "schema/frame.h"

#include <cstring>
#include <string>

namespace bridge::frame {
namespace {

uint32_t load_le32(const std::byte* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);  // x86-64 and aarch64 hosts are little-endian, as is the wire
  return v;
}

}  // namespace

Result<std::size_t> table_bytes(std::span<const std::byte, 8> head, const Limits& limits) {
  const uint32_t count_minus_one = load_le32(head.data());
  if (count_minus_one == 0xFFFFFFFFu || count_minus_one >= limits.max_segments)
    return make_error(EPROTO, "frame declares " + std::to_string(uint64_t{count_minus_one} + 1) +
                                  " segments (limit " + std::to_string(limits.max_segments) + ")");
  const std::size_t count = std::size_t{count_minus_one} + 1;
  // One u32 for the count, one per segment, rounded up to a whole word.
  return ((1 + count) * 4 + 7) & ~std::size_t{7};
}

Result<Layout> parse_table(std::span<const std::byte> table, const Limits& limits) {
  if (table.size() < 8) return make_error(EPROTO, "frame segment table truncated");
  auto size = table_bytes(table.first<8>(), limits);
  if (!size) return size.error();
  if (table.size() < *size) return make_error(EPROTO, "frame segment table truncated");
  const std::size_t count = std::size_t{load_le32(table.data())} + 1;
  Layout layout{*size, 0};
  for (std::size_t i = 0; i < count; ++i) {
    const uint64_t words = load_le32(table.data() + 4 * (i + 1));
    // The cap is checked after every addition of < 2^35 bytes, so the running total cannot wrap
    // whatever max_segments is, and nothing is allocated until the whole table has passed.
    layout.body_bytes += words * sizeof(capnp::word);
    if (layout.total_bytes() > limits.max_bytes)
      return make_error(EMSGSIZE,
                        "frame larger than " + std::to_string(limits.max_bytes) + " bytes");
  }
  if (layout.body_bytes == 0) return make_error(EPROTO, "frame has no content");
  return layout;
}

Frame::Frame(kj::Array<capnp::word> words, const Limits& limits)
    : words_(std::move(words)),
      reader_(std::make_unique<capnp::FlatArrayMessageReader>(
          words_.asPtr(), reader_options(limits, words_.size()))) {}

Frame& Frame::operator=(Frame&& other) noexcept {
  if (this == &other) return *this;
  reader_ = std::move(other.reader_);  // drop the old reader while its bytes still exist
  words_ = std::move(other.words_);
  return *this;
}

Result<Decoded> decode(std::span<const std::byte> bytes, const Limits& limits) {
  if (bytes.size() < 8) return make_error(ENODATA, "need more bytes");
  auto table = table_bytes(bytes.first<8>(), limits);
  if (!table) return table.error();
  if (bytes.size() < *table) return make_error(ENODATA, "need more bytes");
  auto layout = parse_table(bytes.first(*table), limits);
  if (!layout) return layout.error();
  if (bytes.size() < layout->total_bytes()) return make_error(ENODATA, "need more bytes");
  auto words = kj::heapArray<capnp::word>(layout->total_bytes() / sizeof(capnp::word));
  std::memcpy(words.begin(), bytes.data(), layout->total_bytes());
  try {
    return Decoded{Frame(std::move(words), limits), layout->total_bytes()};
  } catch (const kj::Exception& e) {
    return make_error(EPROTO, std::string("malformed frame: ") + e.getDescription().cStr());
  }
}

kj::Array<capnp::word> encode(capnp::MessageBuilder& message) {
  return capnp::messageToFlatArray(message);
}

}  // namespace bridge::frame
