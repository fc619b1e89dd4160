// The guest's decode + dispatch on a real ext2fs engine over a real mke2fs image: requests go in
// as wire messages and responses come out as frames, exactly as bridge-guest handles them.
#include "bridge-guest/dispatcher.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "bridge-guest/engines/engine_factory.h"
#include "schema/frame.h"
#include "schema/fs_codec.h"

namespace bridge::guest {
namespace {

namespace fs = std::filesystem;
using Op = wire::Request::Op;
using Which = wire::Response::Result::Which;

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dispatcher-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "tree/home");
    std::ofstream(dir_ / "tree/home/file") << "0123456789";
    std::string image = (dir_ / "x.img").string();
    ASSERT_EQ(
        std::system(
            ("mke2fs -q -t ext4 -d " + (dir_ / "tree").string() + " -F " + image + " 16M").c_str()),
        0);
    ExportSpec spec{"ext4", "ext2fs", image, false};
    auto engine = open_engine(spec);
    ASSERT_TRUE(engine.ok()) << engine.error().context;
    std::vector<std::unique_ptr<ServedExport>> exports;
    exports.push_back(std::make_unique<ServedExport>(spec, std::move(engine).value(), 7));
    dispatcher_ = std::make_unique<Dispatcher>(std::move(exports), 7);
  }
  void TearDown() override {
    dispatcher_.reset();
    fs::remove_all(dir_);
  }

  // Builds a request with `fill`, dispatches it, and keeps the decoded response frame.
  template <typename Fill>
  wire::Response::Reader call(Fill&& fill, uint16_t export_index = 0) {
    capnp::MallocMessageBuilder message;
    auto request = message.initRoot<wire::Message>().initRequest();
    request.setId(++id_);
    request.setExport(export_index);
    fill(request.initOp());
    // The request also crosses the wire encoding, as in the daemon.
    auto in_words = frame::encode(message);
    auto in = frame::decode(bytes_of(in_words));
    EXPECT_TRUE(in.ok());
    reply_words_ = dispatcher_->handle(in->frame.message().getRequest());
    auto out = frame::decode(bytes_of(reply_words_));
    EXPECT_TRUE(out.ok());
    reply_ = std::make_unique<frame::Frame>(std::move(out->frame));
    auto response = reply_->message().getResponse();
    EXPECT_EQ(response.getId(), id_);
    return response;
  }

  static std::span<const std::byte> bytes_of(const kj::Array<capnp::word>& words) {
    auto b = words.asBytes();
    // INVARIANT: capnp words are plain bytes.
    return {reinterpret_cast<const std::byte*>(b.begin()), b.size()};
  }

  static void path(capnp::List<capnp::Text>::Builder out,
                   std::initializer_list<const char*> parts) {
    unsigned i = 0;
    for (auto p : parts) out.set(i++, p);
  }

  uint64_t open_file() {
    auto r = call([](Op::Builder op) {
      auto o = op.initOpen();
      path(o.initPath(2), {"home", "file"});
      o.initFlags().setRead(true);
    });
    EXPECT_EQ(r.getResult().which(), Which::OPENED);
    return r.getResult().getOpened().getHandle().getValue();
  }

  fs::path dir_;
  std::unique_ptr<Dispatcher> dispatcher_;
  kj::Array<capnp::word> reply_words_;
  std::unique_ptr<frame::Frame> reply_;
  uint64_t id_ = 0;
};

TEST_F(DispatcherTest, HelloDescribesTheExports) {
  capnp::MallocMessageBuilder message;
  auto hello = message.initRoot<wire::Hello>();
  dispatcher_->describe("fsvm", hello);
  EXPECT_EQ(hello.getMajor(), wire::PROTOCOL_MAJOR);
  EXPECT_EQ(hello.getRole(), wire::Hello::Role::GUEST);
  ASSERT_EQ(hello.getExports().size(), 1u);
  EXPECT_EQ(std::string(hello.getExports()[0].getName().cStr()), "ext4");
  EXPECT_EQ(std::string(hello.getExports()[0].getEngine().cStr()), "ext2fs");
}

TEST_F(DispatcherTest, GetattrByPath) {
  auto r = call([](Op::Builder op) { path(op.initGetattr().initPath(2), {"home", "file"}); });
  ASSERT_EQ(r.getResult().which(), Which::ATTR);
  EXPECT_EQ(r.getResult().getAttr().getSize(), 10u);
}

TEST_F(DispatcherTest, HostilePathsAreRefused) {
  for (const char* bad : {"..", ".", "", "a/b"}) {
    auto r = call([&](Op::Builder op) { path(op.initGetattr().initPath(2), {"home", bad}); });
    ASSERT_TRUE(r.getResult().isError()) << bad;
    EXPECT_EQ(r.getResult().getError(), wire::Errno::INVAL) << bad;
  }
}

TEST_F(DispatcherTest, UnknownExportIsNodev) {
  auto r = call([](Op::Builder op) { op.setPing(); }, 9);
  ASSERT_TRUE(r.getResult().isError());
  EXPECT_EQ(r.getResult().getError(), wire::Errno::NODEV);
}

TEST_F(DispatcherTest, OpenReadClose) {
  uint64_t h = open_file();
  auto r = call([h](Op::Builder op) {
    auto rd = op.initRead();
    rd.initHandle().setValue(h);
    rd.setOffset(3);
    rd.setLength(100);
  });
  ASSERT_EQ(r.getResult().which(), Which::DATA);
  auto data = r.getResult().getData().getInline();
  EXPECT_EQ(std::string(data.asChars().begin(), data.size()), "3456789");
  auto closed = call([h](Op::Builder op) { op.initClose().initHandle().setValue(h); });
  EXPECT_TRUE(closed.getResult().isDone());
  auto again = call([h](Op::Builder op) { op.initClose().initHandle().setValue(h); });
  EXPECT_EQ(again.getResult().getError(), wire::Errno::STALE);
}

TEST_F(DispatcherTest, ForgedHandlesAreStale) {
  for (uint64_t forged : {0ull, 1ull, ~0ull, 0x0007000100000000ull}) {
    auto r = call([forged](Op::Builder op) {
      auto rd = op.initRead();
      rd.initHandle().setValue(forged);
      rd.setLength(10);
    });
    EXPECT_EQ(r.getResult().getError(), wire::Errno::STALE) << forged;
  }
}

TEST_F(DispatcherTest, OversizedReadsAreClamped) {
  uint64_t h = open_file();
  auto r = call([h](Op::Builder op) {
    auto rd = op.initRead();
    rd.initHandle().setValue(h);
    rd.setLength(0xFFFFFFFFu);  // the guest never allocates what the host asks for blindly
  });
  ASSERT_EQ(r.getResult().which(), Which::DATA);
  EXPECT_EQ(r.getResult().getData().getInline().size(), 10u);
}

TEST_F(DispatcherTest, RegionWithoutARegionIsRefused) {
  uint64_t h = open_file();
  auto r = call([h](Op::Builder op) {
    auto rd = op.initRead();
    rd.initHandle().setValue(h);
    rd.setLength(10);
    rd.initInto().setLength(10);
  });
  EXPECT_EQ(r.getResult().getError(), wire::Errno::NOTSUP);
}

TEST_F(DispatcherTest, OperationsOfOtherKindsOfExportSayWhy) {
  auto sub = call([](Op::Builder op) { op.initSubvol().setList(); });
  EXPECT_EQ(sub.getResult().getError(), wire::Errno::NOTSUP);
  EXPECT_NE(std::string(sub.getMessage().cStr()).find("not btrfs"), std::string::npos);
  auto drm = call([](Op::Builder op) { op.initDrm().setGetCaps(); });
  EXPECT_EQ(drm.getResult().getError(), wire::Errno::NODEV);
}

TEST_F(DispatcherTest, RemovingTheRootIsRefused) {
  auto r = call([](Op::Builder op) { op.initRmdir().initPath(0); });
  EXPECT_EQ(r.getResult().getError(), wire::Errno::BUSY);
}

TEST_F(DispatcherTest, CanceledAnswersCanceled) {
  auto words = Dispatcher::canceled(77);
  auto decoded = frame::decode(bytes_of(words));
  ASSERT_TRUE(decoded.ok());
  auto r = decoded->frame.message().getResponse();
  EXPECT_EQ(r.getId(), 77u);
  EXPECT_EQ(r.getResult().getError(), wire::Errno::CANCELED);
}

}  // namespace
}  // namespace bridge::guest
