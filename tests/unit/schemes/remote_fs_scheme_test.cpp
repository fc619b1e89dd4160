// RemoteFsScheme believes nothing a guest says without checking it. The guest here is a
// scripted test double of GuestChannel (no sockets): each test decides what it answers.
#include "schemes/remote_fs_scheme.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <vector>

#include "schema/errno_map.h"

namespace bridge {
namespace {

using Answer = std::function<void(wire::Request::Reader, wire::Response::Builder)>;

// Encodes and decodes, so the scheme reads exactly what a socket would have carried.
frame::Frame through_wire(capnp::MessageBuilder& message) {
  auto words = frame::encode(message);
  auto bytes = words.asBytes();
  // INVARIANT: capnp bytes and std::byte are both plain bytes.
  auto decoded = frame::decode({reinterpret_cast<const std::byte*>(bytes.begin()), bytes.size()});
  return std::move(decoded.value().frame);
}

// Test double: answers each request with whatever `answer` builds, through a real frame.
class ScriptedChannel : public GuestChannel {
 public:
  explicit ScriptedChannel(Answer answer) : answer_(std::move(answer)) {}

  void submit(std::unique_ptr<capnp::MallocMessageBuilder> message, Completion done) override {
    done(call(std::move(message)));
  }

  Result<frame::Frame> call(std::unique_ptr<capnp::MallocMessageBuilder> message) override {
    auto request = through_wire(*message);
    auto req = request.message().getRequest();
    last_export = req.getExport();
    capnp::MallocMessageBuilder reply;
    auto response = reply.initRoot<wire::Message>().initResponse();
    response.setId(req.getId());
    answer_(req, response);
    return through_wire(reply);
  }

  std::shared_ptr<GuestRegion> region() override { return region_; }

  uint16_t last_export = 0;
  std::shared_ptr<GuestRegion> region_;  // what the hellos agreed on; nullptr: inline

 private:
  Answer answer_;
};

RemoteFsScheme scheme_answering(Answer answer, std::shared_ptr<ScriptedChannel>* out = nullptr) {
  auto channel = std::make_shared<ScriptedChannel>(std::move(answer));
  if (out) *out = channel;
  return RemoteFsScheme(channel, 3, false);
}

RelPath path(const char* p) {
  return *RelPath::parse(p);
}

TEST(RemoteFsScheme, SendsItsExportIndexAndDecodesAttrs) {
  std::shared_ptr<ScriptedChannel> channel;
  auto fs = scheme_answering(
      [](auto req, auto resp) {
        ASSERT_TRUE(req.getOp().isGetattr());
        ASSERT_EQ(req.getOp().getGetattr().getPath().size(), 2u);
        auto a = resp.getResult().initAttr();
        a.setIno(42);
        a.setSize(1000);
        a.setMode(0100644);
      },
      &channel);
  auto attr = fs.getattr(path("/home/file"), false);
  ASSERT_TRUE(attr.ok());
  EXPECT_EQ(attr->ino, 42u);
  EXPECT_EQ(attr->size, 1000u);
  EXPECT_EQ(channel->last_export, 3);
}

TEST(RemoteFsScheme, MapsGuestErrorsToHostErrno) {
  auto fs = scheme_answering([](auto, auto resp) {
    resp.getResult().setError(wire::Errno::NOENT);
    resp.setMessage("no such file");
  });
  auto attr = fs.getattr(path("/x"), false);
  ASSERT_FALSE(attr.ok());
  EXPECT_EQ(attr.code(), ENOENT);
  EXPECT_NE(attr.error().context.find("no such file"), std::string::npos);
}

TEST(RemoteFsScheme, WrongResultKindIsEio) {
  auto fs = scheme_answering([](auto, auto resp) { resp.getResult().setWritten(5); });
  EXPECT_EQ(fs.getattr(path("/x"), false).code(), EIO);
  EXPECT_EQ(fs.unlink(path("/x")).code(), EIO);
}

TEST(RemoteFsScheme, MoreBytesThanAskedIsEio) {
  auto fs = scheme_answering([](auto, auto resp) {
    std::vector<capnp::byte> too_many(100, 1);
    resp.getResult().initData().setInline(kj::arrayPtr(too_many.data(), too_many.size()));
  });
  std::vector<std::byte> out(10);
  EXPECT_EQ(fs.read(1, 0, out).code(), EIO);
}

TEST(RemoteFsScheme, ReadCopiesExactlyWhatCame) {
  auto fs = scheme_answering([](auto req, auto resp) {
    EXPECT_EQ(req.getOp().getRead().getLength(), 8u);
    std::vector<capnp::byte> four = {1, 2, 3, 4};
    resp.getResult().initData().setInline(kj::arrayPtr(four.data(), four.size()));
  });
  std::vector<std::byte> out(8, std::byte{0xEE});
  auto n = fs.read(1, 0, out);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4u);
  EXPECT_EQ(out[3], std::byte{4});
  EXPECT_EQ(out[4], std::byte{0xEE});
}

TEST(RemoteFsScheme, ClaimingMoreWrittenThanSentIsEio) {
  auto fs = scheme_answering([](auto, auto resp) { resp.getResult().setWritten(1 << 20); });
  std::vector<std::byte> data(10);
  EXPECT_EQ(fs.write(1, 0, data).code(), EIO);
}

TEST(RemoteFsScheme, HostileDirEntryNamesAreRefused) {
  auto fs = scheme_answering([](auto, auto resp) {
    auto page = resp.getResult().initEntries();
    auto entries = page.initEntries(2);
    entries[0].setName("fine");
    entries[1].setName("../../etc");
    page.setEnd(true);
  });
  auto page = fs.readdir(path("/"), 0, 10, false);
  ASSERT_FALSE(page.ok());
}

TEST(RemoteFsScheme, ChannelErrorsPassThrough) {
  class Dead : public GuestChannel {
   public:
    void submit(std::unique_ptr<capnp::MallocMessageBuilder>, Completion done) override {
      done(make_error(EIO, "gone"));
    }
    Result<frame::Frame> call(std::unique_ptr<capnp::MallocMessageBuilder>) override {
      return make_error(EIO, "gone");
    }
  };
  RemoteFsScheme fs(std::make_shared<Dead>(), 0, false);
  EXPECT_EQ(fs.getattr(path("/"), false).code(), EIO);
  EXPECT_EQ(fs.statfs().code(), EIO);
}

// ---- the shared region ---------------------------------------------------------------------

std::shared_ptr<GuestRegion> memfd_region(uint64_t size) {
  auto mapping = SharedRegion::create_memfd(size, "remote-fs-test");
  EXPECT_TRUE(mapping.ok());
  return std::make_shared<GuestRegion>(std::move(mapping).value());
}

// The honest guest's read: `content` written at the start of the range the host gave.
void answer_read_in_region(GuestRegion& region, wire::ReadReq::Reader rd,
                           wire::Response::Builder resp, const std::string& content) {
  auto into = rd.getInto();
  auto range = region.mapping.slice(into.getOffset(), content.size());
  ASSERT_TRUE(range.ok());
  std::memcpy(range->data(), content.data(), content.size());
  auto ref = resp.getResult().initData().initRegion();
  ref.setOffset(into.getOffset());
  ref.setLength(content.size());
}

struct RegionFixture {
  std::shared_ptr<ScriptedChannel> channel;
  std::shared_ptr<GuestRegion> region = memfd_region(1 << 20);
};

RemoteFsScheme scheme_with_region(RegionFixture& f, Answer answer) {
  f.channel = std::make_shared<ScriptedChannel>(std::move(answer));
  f.channel->region_ = f.region;
  return RemoteFsScheme(f.channel, 0, false);
}

TEST(RemoteFsSchemeRegion, ReadComesThroughTheLeasedRange) {
  RegionFixture f;
  uint64_t asked_into = 0;
  auto fs = scheme_with_region(f, [&](auto req, auto resp) {
    auto rd = req.getOp().getRead();
    ASSERT_GE(rd.getInto().getLength(), rd.getLength());
    asked_into = rd.getInto().getLength();
    answer_read_in_region(*f.region, rd, resp, "region bytes");
  });
  std::vector<std::byte> out(100);
  auto got = fs.read(1, 0, out);
  ASSERT_TRUE(got.ok()) << got.error().context;
  ASSERT_EQ(*got, 12u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(out.data()), 12), "region bytes");
  EXPECT_EQ(asked_into, RegionAllocator::kPage);
  EXPECT_EQ(f.region->allocator.bytes_free(),
            f.region->allocator.size() - RegionAllocator::kPage);  // lease returned
}

TEST(RemoteFsSchemeRegion, RangeOutsideTheLeaseIsEio) {
  RegionFixture f;
  auto fs = scheme_with_region(f, [](auto req, auto resp) {
    auto into = req.getOp().getRead().getInto();
    auto ref = resp.getResult().initData().initRegion();
    ref.setOffset(into.getOffset() + into.getLength());  // the next lease's bytes
    ref.setLength(10);
  });
  std::vector<std::byte> out(100);
  EXPECT_EQ(fs.read(1, 0, out).code(), EIO);
  // Also a range that starts inside the lease and runs past it, and one that wraps.
  auto fs2 = scheme_with_region(f, [](auto req, auto resp) {
    auto into = req.getOp().getRead().getInto();
    auto ref = resp.getResult().initData().initRegion();
    ref.setOffset(into.getOffset() + 8);
    ref.setLength(into.getLength());
  });
  EXPECT_EQ(fs2.read(1, 0, out).code(), EIO);
  auto fs3 = scheme_with_region(f, [](auto, auto resp) {
    auto ref = resp.getResult().initData().initRegion();
    ref.setOffset(~0ull - 4);
    ref.setLength(10);
  });
  EXPECT_EQ(fs3.read(1, 0, out).code(), EIO);
}

TEST(RemoteFsSchemeRegion, LongerThanAskedIsEioEvenInsideTheLease) {
  RegionFixture f;
  auto fs = scheme_with_region(f, [](auto req, auto resp) {
    auto into = req.getOp().getRead().getInto();  // a whole page for a 100-byte read
    auto ref = resp.getResult().initData().initRegion();
    ref.setOffset(into.getOffset());
    ref.setLength(200);
  });
  std::vector<std::byte> out(100);
  EXPECT_EQ(fs.read(1, 0, out).code(), EIO);
}

TEST(RemoteFsSchemeRegion, InlineAnswerToARegionReadIsAccepted) {
  RegionFixture f;
  auto fs = scheme_with_region(f, [](auto, auto resp) {
    resp.getResult().initData().setInline(kj::StringPtr("inline").asBytes());
  });
  std::vector<std::byte> out(100);
  auto got = fs.read(1, 0, out);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 6u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(out.data()), 6), "inline");
}

TEST(RemoteFsSchemeRegion, AFullRegionFallsBackToInline) {
  RegionFixture f;
  auto hog = f.region->allocator.allocate(f.region->allocator.bytes_free());
  ASSERT_TRUE(hog.ok());
  bool asked_region = true;
  auto fs = scheme_with_region(f, [&](auto req, auto resp) {
    auto op = req.getOp();
    if (op.isRead()) {
      asked_region = op.getRead().getInto().getLength() != 0;
      resp.getResult().initData().setInline(kj::StringPtr("still works").asBytes());
    } else {
      asked_region = op.getWrite().getData().isRegion();
      resp.getResult().setWritten(op.getWrite().getData().getInline().size());
    }
  });
  std::vector<std::byte> out(100);
  auto got = fs.read(1, 0, out);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, 11u);
  EXPECT_FALSE(asked_region);
  asked_region = true;
  auto wrote = fs.write(1, 0, std::span<const std::byte>(out.data(), 5));
  ASSERT_TRUE(wrote.ok());
  EXPECT_EQ(*wrote, 5u);
  EXPECT_FALSE(asked_region);
}

TEST(RemoteFsSchemeRegion, WriteNamesALeasedRangeHoldingTheData) {
  RegionFixture f;
  std::string seen;
  auto fs = scheme_with_region(f, [&](auto req, auto resp) {
    auto data = req.getOp().getWrite().getData();
    ASSERT_TRUE(data.isRegion());
    auto range =
        f.region->mapping.slice(data.getRegion().getOffset(), data.getRegion().getLength());
    ASSERT_TRUE(range.ok());
    seen.assign(reinterpret_cast<const char*>(range->data()), range->size());
    resp.getResult().setWritten(static_cast<uint32_t>(range->size()));
  });
  const std::string text = "written through the region";
  auto wrote = fs.write(1, 0, std::as_bytes(std::span(text.data(), text.size())));
  ASSERT_TRUE(wrote.ok());
  EXPECT_EQ(*wrote, text.size());
  EXPECT_EQ(seen, text);
  EXPECT_EQ(f.region->allocator.bytes_free(), f.region->allocator.size() - RegionAllocator::kPage);
}

// A guest that timed out may still write its range later: that range is never lent again while
// the scheme lives, so the late bytes cannot land in another read.
class FailingChannel : public ScriptedChannel {
 public:
  explicit FailingChannel(int code) : ScriptedChannel(nullptr), code_(code) {}
  Result<frame::Frame> call(std::unique_ptr<capnp::MallocMessageBuilder>) override {
    return make_error(code_, "scripted failure");
  }

 private:
  int code_;
};

TEST(RemoteFsSchemeRegion, TimedOutLeasesAreQuarantined) {
  auto region = memfd_region(1 << 20);
  auto channel = std::make_shared<FailingChannel>(ETIMEDOUT);
  channel->region_ = region;
  {
    RemoteFsScheme fs(channel, 0, false);
    std::vector<std::byte> out(100);
    EXPECT_EQ(fs.read(1, 0, out).code(), ETIMEDOUT);
    EXPECT_EQ(region->allocator.bytes_free(),
              region->allocator.size() - 2 * RegionAllocator::kPage);
  }
  EXPECT_EQ(region->allocator.bytes_free(),
            region->allocator.size() - RegionAllocator::kPage);  // freed with the scheme
}

TEST(RemoteFsSchemeRegion, ForwardedRequestsMayNotNameRegionRanges) {
  RegionFixture f;
  bool reached_guest = false;
  auto fs = scheme_with_region(f, [&](auto, auto resp) {
    reached_guest = true;
    resp.getResult().setPong();
  });
  capnp::MallocMessageBuilder message;
  auto rd = message.initRoot<wire::Request>().initOp().initRead();
  rd.setLength(10);
  rd.initInto().setLength(4096);
  int code = 0;
  fs.forward(message.getRoot<wire::Request>().asReader(),
             [&](Result<frame::Frame> r) { code = r.code(); });
  EXPECT_EQ(code, EFAULT);
  capnp::MallocMessageBuilder write;
  write.initRoot<wire::Request>().initOp().initWrite().initData().initRegion().setLength(1);
  fs.forward(write.getRoot<wire::Request>().asReader(),
             [&](Result<frame::Frame> r) { code = r.code(); });
  EXPECT_EQ(code, EFAULT);
  EXPECT_FALSE(reached_guest);
}

}  // namespace
}  // namespace bridge
