#include "schema/frame.h"

#include <gtest/gtest.h>

#include <capnp/schema.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <vector>

#include "tests/fuzz/message_walk.h"

// Allocation probe: the test binary replaces global operator new so that a test can ask for the
// largest single allocation made while it was watching. kj::heapArray and std containers both
// allocate through it, so "refused before allocation" is measured, not assumed.
namespace {
std::atomic<bool> g_watch{false};
std::atomic<std::size_t> g_largest{0};

void* counted_alloc(std::size_t n) {
  if (g_watch.load(std::memory_order_relaxed)) {
    std::size_t seen = g_largest.load(std::memory_order_relaxed);
    while (n > seen && !g_largest.compare_exchange_weak(seen, n)) {
    }
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) {
  return counted_alloc(n);
}
void* operator new[](std::size_t n) {
  return counted_alloc(n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace bridge::frame {
namespace {

using Bytes = std::vector<std::byte>;

class AllocationWatch {
 public:
  AllocationWatch() {
    g_largest = 0;
    g_watch = true;
  }
  ~AllocationWatch() { g_watch = false; }
  std::size_t largest() const { return g_largest.load(); }
};

Bytes to_bytes(kj::ArrayPtr<const capnp::word> words) {
  const auto bytes = words.asBytes();
  Bytes out(bytes.size());
  std::memcpy(out.data(), bytes.begin(), bytes.size());
  return out;
}

Bytes encode_bytes(capnp::MessageBuilder& message) {
  return to_bytes(encode(message));
}

// A raw segment table (and optional body) built from little-endian u32s.
Bytes raw_u32s(std::initializer_list<uint32_t> values, std::size_t body_bytes = 0) {
  Bytes out(values.size() * 4 + body_bytes);
  std::size_t at = 0;
  for (uint32_t v : values) {
    std::memcpy(out.data() + at, &v, 4);
    at += 4;
  }
  return out;
}

void put_word(Bytes& bytes, std::size_t offset, uint64_t word) {
  std::memcpy(bytes.data() + offset, &word, sizeof word);
}

Bytes getattr_request(uint64_t id) {
  capnp::MallocMessageBuilder builder;
  auto req = builder.initRoot<wire::Message>().initRequest();
  req.setId(id);
  req.setExport(3);
  req.initCreds().setUid(1000);
  req.getCreds().setGid(100);
  auto getattr = req.initOp().initGetattr();
  auto path = getattr.initPath(2);
  path.set(0, "home");
  path.set(1, "user");
  getattr.setFollow(true);
  return encode_bytes(builder);
}

// The pattern a daemon uses at the message edge: any kj::Exception from reading becomes EPROTO.
Result<wire::Message::Which> read_kind(Frame& frame) {
  try {
    return frame.message().which();
  } catch (const kj::Exception& e) {
    return make_error(EPROTO, std::string("malformed message: ") + e.getDescription().cStr());
  }
}

TEST(Frame, RequestRoundTripsFieldByField) {
  const Bytes bytes = getattr_request(42);
  auto decoded = decode(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().context;
  EXPECT_EQ(decoded->consumed, bytes.size());
  EXPECT_EQ(decoded->frame.size_bytes(), bytes.size());
  auto msg = decoded->frame.message();
  ASSERT_TRUE(msg.isRequest());
  auto req = msg.getRequest();
  EXPECT_EQ(req.getId(), 42u);
  EXPECT_EQ(req.getExport(), 3u);
  EXPECT_EQ(req.getCreds().getUid(), 1000u);
  EXPECT_EQ(req.getCreds().getGid(), 100u);
  ASSERT_TRUE(req.getOp().isGetattr());
  auto getattr = req.getOp().getGetattr();
  ASSERT_TRUE(getattr.isPath());
  ASSERT_EQ(getattr.getPath().size(), 2u);
  EXPECT_EQ(getattr.getPath()[0], "home");
  EXPECT_EQ(getattr.getPath()[1], "user");
  EXPECT_TRUE(getattr.getFollow());
}

TEST(Frame, HelloAndResponseRoundTrip) {
  capnp::MallocMessageBuilder hello_builder;
  auto hello = hello_builder.initRoot<wire::Message>().initHello();
  hello.setMajor(wire::PROTOCOL_MAJOR);
  hello.setMinor(wire::PROTOCOL_MINOR);
  hello.setRole(wire::Hello::Role::GUEST);
  hello.setName("fsvm");
  auto exp = hello.initExports(1)[0];
  exp.setName("ext4");
  exp.setKind(wire::Export::Kind::FILESYSTEM);
  exp.setEngine("ext2fs");
  exp.setReadOnly(true);
  exp.setCapabilities(1u << static_cast<unsigned>(wire::Export::Capability::XATTR));
  hello.initRegion().setSize(1 << 20);
  hello.setBootId(0x1234567890abcdefull);

  capnp::MallocMessageBuilder resp_builder;
  auto resp = resp_builder.initRoot<wire::Message>().initResponse();
  resp.setId(7);
  resp.getResult().setError(wire::Errno::NOENT);
  resp.setMessage("no such file");

  Bytes stream = encode_bytes(hello_builder);
  const Bytes second = encode_bytes(resp_builder);
  stream.insert(stream.end(), second.begin(), second.end());

  auto first = decode(stream);
  ASSERT_TRUE(first.ok());
  auto h = first->frame.message().getHello();
  EXPECT_EQ(h.getMajor(), wire::PROTOCOL_MAJOR);
  EXPECT_EQ(h.getMinor(), wire::PROTOCOL_MINOR);
  EXPECT_EQ(h.getRole(), wire::Hello::Role::GUEST);
  EXPECT_EQ(h.getName(), "fsvm");
  ASSERT_EQ(h.getExports().size(), 1u);
  EXPECT_EQ(h.getExports()[0].getName(), "ext4");
  EXPECT_EQ(h.getExports()[0].getKind(), wire::Export::Kind::FILESYSTEM);
  EXPECT_EQ(h.getExports()[0].getEngine(), "ext2fs");
  EXPECT_TRUE(h.getExports()[0].getReadOnly());
  EXPECT_TRUE(h.getExports()[0].getOnline());  // schema default survives
  EXPECT_EQ(h.getExports()[0].getCapabilities(), 1u);
  EXPECT_EQ(h.getRegion().getSize(), 1u << 20);
  EXPECT_EQ(h.getBootId(), 0x1234567890abcdefull);

  auto rest = std::span<const std::byte>(stream).subspan(first->consumed);
  auto next = decode(rest);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(first->consumed + next->consumed, stream.size());
  auto r = next->frame.message().getResponse();
  EXPECT_EQ(r.getId(), 7u);
  ASSERT_TRUE(r.getResult().isError());
  EXPECT_EQ(r.getResult().getError(), wire::Errno::NOENT);
  EXPECT_EQ(r.getMessage(), "no such file");
}

TEST(Frame, MultiSegmentMessageRoundTrips) {
  // Tiny fixed-size segments force a multi-segment frame, with table padding for even counts.
  capnp::MallocMessageBuilder builder(8, capnp::AllocationStrategy::FIXED_SIZE);
  auto write = builder.initRoot<wire::Message>().initRequest().initOp().initWrite();
  write.initHandle().setValue(99);
  write.setOffset(4096);
  auto data = write.initData().initInline(1000);
  for (unsigned i = 0; i < data.size(); ++i) data[i] = static_cast<kj::byte>(i * 7);
  ASSERT_GT(builder.getSegmentsForOutput().size(), 1u);

  const Bytes bytes = encode_bytes(builder);
  auto decoded = decode(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().context;
  EXPECT_EQ(decoded->consumed, bytes.size());
  auto w = decoded->frame.message().getRequest().getOp().getWrite();
  EXPECT_EQ(w.getHandle().getValue(), 99u);
  EXPECT_EQ(w.getOffset(), 4096u);
  auto got = w.getData().getInline();
  ASSERT_EQ(got.size(), 1000u);
  for (unsigned i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], static_cast<kj::byte>(i * 7));
}

TEST(Frame, TruncatedAtEveryByteNeedsMoreData) {
  capnp::MallocMessageBuilder builder(8, capnp::AllocationStrategy::FIXED_SIZE);
  auto path = builder.initRoot<wire::Message>().initRequest().initOp().initUnlink().initPath(3);
  path.set(0, "a");
  path.set(1, "bb");
  path.set(2, "ccc");
  const Bytes bytes = encode_bytes(builder);
  ASSERT_GT(builder.getSegmentsForOutput().size(), 1u);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto r = decode(std::span<const std::byte>(bytes.data(), n));
    ASSERT_FALSE(r.ok()) << n;
    ASSERT_EQ(r.code(), ENODATA) << n;
  }
  EXPECT_TRUE(decode(bytes).ok());
}

TEST(Frame, SegmentCountAllOnesRefusedBeforeAllocation) {
  const Bytes head = raw_u32s({0xFFFFFFFFu, 1});
  AllocationWatch watch;
  auto r = decode(head);
  EXPECT_EQ(r.code(), EPROTO);
  EXPECT_LT(watch.largest(), 4096u);
}

TEST(Frame, SegmentCountAboveCapRefusedBeforeTableArrives) {
  // Only the first word is present: the count alone decides, we never ask for the table.
  const Bytes over = raw_u32s({wire::SEGMENTS_MAX, 1});  // SEGMENTS_MAX + 1 segments
  AllocationWatch watch;
  EXPECT_EQ(decode(over).code(), EPROTO);
  EXPECT_LT(watch.largest(), 4096u);

  const Bytes at_cap = raw_u32s({wire::SEGMENTS_MAX - 1, 1});
  auto size = table_bytes(std::span<const std::byte, 8>(at_cap.data(), 8), Limits{});
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, ((1 + wire::SEGMENTS_MAX) * 4 + 7) / 8 * 8);
  EXPECT_EQ(decode(at_cap).code(), ENODATA);  // legal so far: waits for the rest of the table
}

TEST(Frame, OversizeTableRefusedWithoutAllocating) {
  AllocationWatch watch;
  // One segment exactly FRAME_MAX bytes: with its 8-byte table the frame is over the cap.
  EXPECT_EQ(decode(raw_u32s({0, wire::FRAME_MAX / 8})).code(), EMSGSIZE);
  // Segment sizes whose sum would wrap 32 bits.
  EXPECT_EQ(decode(raw_u32s({1, 0xFFFFFFFFu, 0xFFFFFFFFu, 0})).code(), EMSGSIZE);
  EXPECT_LT(watch.largest(), 4096u);
  // Just under the cap is legal and waits for the body.
  EXPECT_EQ(decode(raw_u32s({0, wire::FRAME_MAX / 8 - 1})).code(), ENODATA);
}

TEST(Frame, AllocationProbeSeesARealFrame) {
  // Control for the probe above: decoding a 64 KiB frame does show a 64 KiB allocation.
  capnp::MallocMessageBuilder builder;
  builder.initRoot<wire::Message>().initResponse().getResult().initXattrValue(65536);
  const Bytes bytes = encode_bytes(builder);
  AllocationWatch watch;
  ASSERT_TRUE(decode(bytes).ok());
  EXPECT_GE(watch.largest(), 65536u);
}

TEST(Frame, ZeroSizeBodyRefused) {
  EXPECT_EQ(decode(raw_u32s({0, 0})).code(), EPROTO);
  EXPECT_EQ(decode(raw_u32s({2, 0, 0, 0})).code(), EPROTO);
}

TEST(Frame, MalformedRootPointerThrowsCatchably) {
  Bytes bytes = getattr_request(1);
  // Root pointer (first word of segment 0, after the 8-byte table): a struct pointer whose
  // offset points 2^29 words past the segment.
  put_word(bytes, 8, (uint64_t{0x1FFFFFFF} << 2) | (uint64_t{1} << 32));
  auto decoded = decode(bytes);
  ASSERT_TRUE(decoded.ok());  // framing is sound; the content is not
  auto kind = read_kind(decoded->frame);
  ASSERT_FALSE(kind.ok());
  EXPECT_EQ(kind.code(), EPROTO);
  EXPECT_NE(kind.error().context.find("malformed message"), std::string::npos);
}

TEST(Frame, FarPointerToMissingSegmentThrowsCatchably) {
  Bytes bytes = getattr_request(1);
  // Far pointer (kind 2) into segment 9 of a one-segment frame.
  put_word(bytes, 8, (uint64_t{9} << 32) | 2);
  auto decoded = decode(bytes);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(read_kind(decoded->frame).code(), EPROTO);
}

TEST(Frame, TraversalBudgetScalesWithTheFrame) {
  // A 1 MiB payload may be read four times whole (the budget is 4x the frame plus a floor), but
  // not indefinitely: the reader throws once the budget is spent.
  capnp::MallocMessageBuilder builder;
  builder.initRoot<wire::Message>().initRequest().initOp().initWrite().initData().initInline(
      wire::INLINE_DATA_MAX);
  auto decoded = decode(encode_bytes(builder));
  ASSERT_TRUE(decoded.ok());
  int reads = 0;
  try {
    for (; reads < 64; ++reads) {
      auto data = decoded->frame.message().getRequest().getOp().getWrite().getData().getInline();
      ASSERT_EQ(data.size(), wire::INLINE_DATA_MAX);
    }
  } catch (const kj::Exception&) {
  }
  EXPECT_GE(reads, 4);
  EXPECT_LT(reads, 8);
}

TEST(Frame, TinyFrameCannotBuyAMillionReads) {
  // A hello with one export, then its list's tag rewritten to 2^20 elements of zero size: the
  // frame stays ~100 bytes, and reading the list would walk a million default structs. With a
  // budget proportional to the frame, the read is refused instead.
  capnp::MallocMessageBuilder builder;
  builder.initRoot<wire::Message>().initHello().initExports(1)[0].setName("x");
  Bytes bytes = encode_bytes(builder);
  const auto node = capnp::Schema::from<wire::Export>().getProto().getStruct();
  const uint64_t tag = (uint64_t{1} << 2) | (uint64_t{node.getDataWordCount()} << 32) |
                       (uint64_t{node.getPointerCount()} << 48);
  bool patched = false;
  for (std::size_t at = 8; at + 8 <= bytes.size(); at += 8) {
    uint64_t word;
    std::memcpy(&word, bytes.data() + at, 8);
    if (word != tag) continue;
    put_word(bytes, at, uint64_t{1} << 20 << 2);  // 2^20 elements, 0 data and 0 pointer words
    patched = true;
    break;
  }
  ASSERT_TRUE(patched);
  EXPECT_LT(bytes.size(), 256u);

  // Control: under a budget sized by the frame cap alone, the same bytes are walked in full.
  auto copy = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(copy.begin(), bytes.data(), bytes.size());
  capnp::FlatArrayMessageReader cap_only(copy, reader_options(Limits{}));
  EXPECT_EQ(cap_only.getRoot<wire::Message>().getHello().getExports().size(), 1u << 20);

  auto decoded = decode(bytes);
  ASSERT_TRUE(decoded.ok());
  EXPECT_THROW(
      {
        uint64_t visited = 0;
        for (auto e : decoded->frame.message().getHello().getExports())
          visited += e.getKind() == wire::Export::Kind::FILESYSTEM;
        ADD_FAILURE() << "walked " << visited << " exports";
      },
      kj::Exception);
}

TEST(Frame, BackToBackFramesReportConsumed) {
  Bytes stream;
  std::vector<std::size_t> sizes;
  for (uint64_t id : {1, 2, 3}) {
    const Bytes one = getattr_request(id);
    sizes.push_back(one.size());
    stream.insert(stream.end(), one.begin(), one.end());
  }
  stream.resize(stream.size() - 5);  // the third frame is still arriving
  std::span<const std::byte> rest(stream);
  for (uint64_t id : {1, 2}) {
    auto d = decode(rest);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(d->consumed, sizes[id - 1]);
    EXPECT_EQ(d->frame.message().getRequest().getId(), id);
    rest = rest.subspan(d->consumed);
  }
  EXPECT_EQ(decode(rest).code(), ENODATA);
}

TEST(Frame, MovedFrameStillReads) {
  auto d = decode(getattr_request(5));
  ASSERT_TRUE(d.ok());
  Frame moved = std::move(d->frame);
  auto other = decode(getattr_request(6));
  ASSERT_TRUE(other.ok());
  moved = std::move(other->frame);
  EXPECT_EQ(moved.message().getRequest().getId(), 6u);
}

// Garbage never crashes: every input either decodes (and then reads or throws kj::Exception)
// or is refused with one of the framing errors.
struct GarbageTally {
  int refused = 0, read = 0, threw = 0;
};

void feed(const Bytes& input, GarbageTally& tally) {
  auto d = decode(input);
  if (!d.ok()) {
    const int code = d.code();
    ASSERT_TRUE(code == ENODATA || code == EPROTO || code == EMSGSIZE) << code;
    ++tally.refused;
    return;
  }
  ASSERT_LE(d->consumed, input.size());
  try {
    fuzz::walk_message(d->frame.message());
    ++tally.read;
  } catch (const kj::Exception&) {
    ++tally.threw;
  }
}

TEST(Frame, RandomBytesNeverCrash) {
  std::mt19937_64 rng(0x5eed);
  GarbageTally tally;
  for (int i = 0; i < 20000; ++i) {
    Bytes input(rng() % 512);
    for (auto& b : input) b = static_cast<std::byte>(rng());
    if (i % 2) {  // half get a plausible one-segment table so the body is exercised
      if (input.size() < 8) input.resize(8);
      const uint32_t head[2] = {0, static_cast<uint32_t>((input.size() - 8) / 8)};
      std::memcpy(input.data(), head, 8);
    }
    feed(input, tally);
  }
  EXPECT_GT(tally.refused, 0);
  EXPECT_GT(tally.read + tally.threw, 1000);
}

TEST(Frame, MutatedRealFramesNeverCrash) {
  const Bytes base = getattr_request(77);
  std::mt19937_64 rng(0xbadf00d);
  GarbageTally tally;
  for (int i = 0; i < 20000; ++i) {
    Bytes input = base;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) input[rng() % input.size()] ^= std::byte(1u << (rng() % 8));
    feed(input, tally);
  }
  EXPECT_GT(tally.read, 0);
  EXPECT_GT(tally.threw, 0);
}

}  // namespace
}  // namespace bridge::frame
