// RemoteFsScheme believes nothing a guest says without checking it. The guest here is a
// scripted test double of GuestChannel (no sockets): each test decides what it answers.
#include "schemes/remote_fs_scheme.h"

#include <gtest/gtest.h>

#include <functional>

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

  uint16_t last_export = 0;

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

}  // namespace
}  // namespace bridge
