// The guest's decode + dispatch on a real ext2fs engine over a real mke2fs image: requests go in
// as wire messages and responses come out as frames, exactly as bridge-guest handles them.
#include "bridge-guest/dispatcher.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
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
    reply_words_ = dispatcher_->handle(in->frame.message().getRequest(), connection_);
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

  uint64_t open_file(bool write = false) {
    auto r = call([write](Op::Builder op) {
      auto o = op.initOpen();
      path(o.initPath(2), {"home", "file"});
      auto flags = o.initFlags();
      flags.setRead(true);
      flags.setWrite(write);
    });
    EXPECT_EQ(r.getResult().which(), Which::OPENED);
    return r.getResult().getOpened().getHandle().getValue();
  }

  // Maps a fresh memfd region for the requests that follow, as a local-mode session does.
  SharedRegion& use_region(uint64_t size) {
    auto made = SharedRegion::create_memfd(size, "dispatcher-test");
    EXPECT_TRUE(made.ok());
    region_ = std::move(made).value();
    connection_.region = &region_;
    return region_;
  }

  fs::path dir_;
  SharedRegion region_;
  ConnectionContext connection_;
  std::unique_ptr<Dispatcher> dispatcher_;
  kj::Array<capnp::word> reply_words_;
  std::unique_ptr<frame::Frame> reply_;
  uint64_t id_ = 0;
};

TEST_F(DispatcherTest, HelloDescribesTheExports) {
  capnp::MallocMessageBuilder message;
  auto hello = message.initRoot<wire::Hello>();
  dispatcher_->describe("fsvm", 64u << 20, hello);
  EXPECT_EQ(hello.getMajor(), wire::PROTOCOL_MAJOR);
  EXPECT_EQ(hello.getRegion().getSize(), 64u << 20);
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

TEST_F(DispatcherTest, ReadGoesStraightIntoTheRegionRange) {
  auto& region = use_region(1 << 20);
  auto all = region.slice(0, region.size()).value();
  std::fill(all.begin(), all.end(), std::byte{'#'});
  uint64_t h = open_file();
  auto r = call([h](Op::Builder op) {
    auto rd = op.initRead();
    rd.initHandle().setValue(h);
    rd.setOffset(3);
    rd.setLength(100);
    rd.initInto().setOffset(4096);
    rd.getInto().setLength(4096);
  });
  ASSERT_EQ(r.getResult().which(), Which::DATA);
  ASSERT_TRUE(r.getResult().getData().isRegion());
  auto ref = r.getResult().getData().getRegion();
  EXPECT_EQ(ref.getOffset(), 4096u);
  ASSERT_EQ(ref.getLength(), 7u);
  auto bytes = region.slice(4096, 8).value();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()), 8), "3456789#");
  EXPECT_EQ(all[4095], std::byte{'#'});  // nothing before the range was touched
}

TEST_F(DispatcherTest, ReadIntoARangeShorterThanAskedStopsAtTheRange) {
  auto& region = use_region(1 << 20);
  uint64_t h = open_file();
  auto r = call([h](Op::Builder op) {
    auto rd = op.initRead();
    rd.initHandle().setValue(h);
    rd.setLength(100);
    rd.initInto().setOffset(0);
    rd.getInto().setLength(4);
  });
  ASSERT_TRUE(r.getResult().getData().isRegion());
  EXPECT_EQ(r.getResult().getData().getRegion().getLength(), 4u);
  auto bytes = region.slice(0, 4).value();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(bytes.data()), 4), "0123");
}

TEST_F(DispatcherTest, WriteComesFromTheRegionRange) {
  auto& region = use_region(1 << 20);
  auto src = region.slice(8192, 3).value();
  std::memcpy(src.data(), "ABC", 3);
  uint64_t h = open_file(true);
  auto w = call([h](Op::Builder op) {
    auto wr = op.initWrite();
    wr.initHandle().setValue(h);
    wr.setOffset(0);
    auto ref = wr.initData().initRegion();
    ref.setOffset(8192);
    ref.setLength(3);
  });
  ASSERT_EQ(w.getResult().which(), Which::WRITTEN) << w.getMessage().cStr();
  EXPECT_EQ(w.getResult().getWritten(), 3u);
  auto r = call([h](Op::Builder op) {
    auto rd = op.initRead();
    rd.initHandle().setValue(h);
    rd.setLength(100);
  });
  auto data = r.getResult().getData().getInline();
  EXPECT_EQ(std::string(data.asChars().begin(), data.size()), "ABC3456789");
}

TEST_F(DispatcherTest, RegionRangesOutsideTheMappingAreEfault) {
  use_region(1 << 20);
  uint64_t h = open_file(true);
  struct Range {
    uint64_t offset, length;
  };
  const Range bad[] = {{(1 << 20) - 10, 100},  // runs past the end
                       {1 << 20, 1},           // starts at the end
                       {~0ull - 5, 10},        // offset + length overflows
                       {4096, ~0ull},          // length alone overflows
                       {~0ull, ~0ull}};
  for (auto [offset, length] : bad) {
    auto r = call([&](Op::Builder op) {
      auto rd = op.initRead();
      rd.initHandle().setValue(h);
      rd.setLength(10);
      rd.initInto().setOffset(offset);
      rd.getInto().setLength(length);
    });
    ASSERT_TRUE(r.getResult().isError()) << offset << "+" << length;
    EXPECT_EQ(r.getResult().getError(), wire::Errno::FAULT) << offset << "+" << length;
    auto w = call([&](Op::Builder op) {
      auto wr = op.initWrite();
      wr.initHandle().setValue(h);
      auto ref = wr.initData().initRegion();
      ref.setOffset(offset);
      ref.setLength(length);
    });
    ASSERT_TRUE(w.getResult().isError()) << offset << "+" << length;
    EXPECT_EQ(w.getResult().getError(), wire::Errno::FAULT) << offset << "+" << length;
  }
  // The file is untouched and the dispatcher still serves.
  auto r = call([h](Op::Builder op) {
    auto rd = op.initRead();
    rd.initHandle().setValue(h);
    rd.setLength(100);
  });
  auto data = r.getResult().getData().getInline();
  EXPECT_EQ(std::string(data.asChars().begin(), data.size()), "0123456789");
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
