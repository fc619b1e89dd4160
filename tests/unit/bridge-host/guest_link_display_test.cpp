// GuestLink with display exports: a real link over a unix socketpair, and on the other end a
// guest whose DRM answers come from FakeDrmGuest (a SIMULATED DRM export: no DRM here). Checks
// that a display export becomes a RemoteDisplayScheme, that guest events reach it by export
// index, and that events for other exports or unknown indices are dropped harmlessly.
#include "bridge-host/guest_link.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "schemes/remote_display_scheme.h"
#include "tests/support/frame_pipe.h"
#include "tests/unit/schemes/fake_drm_guest.h"

namespace bridge::host {
namespace {

using namespace std::chrono_literals;

// The guest end: blocking reads and writes of whole frames on a plain fd.
class GuestEnd : public test::FramePipe {
 public:
  using FramePipe::FramePipe;
  void send(capnp::MessageBuilder& message) { ASSERT_TRUE(FramePipe::send(message)); }
};

struct GuestLinkDisplayTest : ::testing::Test {
  asio::io_context io;
  SchemeRegistry registry;
  int fds[2] = {-1, -1};
  std::unique_ptr<GuestEnd> guest;
  std::shared_ptr<test::FakeDrmGuest> drm = std::make_shared<test::FakeDrmGuest>(false);
  std::shared_ptr<GuestLink> link;
  std::thread io_thread, answer_thread;

  void SetUp() override {
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    Socket socket(io, asio::generic::stream_protocol(AF_UNIX, SOCK_STREAM), fds[0]);
    link = std::make_shared<GuestLink>(std::make_shared<FramedStream>(std::move(socket)), registry,
                                       LinkOptions{}, "socketpair");
    asio::co_spawn(
        io, [l = link]() -> asio::awaitable<void> { co_await l->run(); }, asio::detached);
    io_thread = std::thread([this] { io.run(); });
    guest = std::make_unique<GuestEnd>(fds[1]);
    ASSERT_TRUE(guest->read().has_value());  // the host's hello
    send_hello();
    answer_thread = std::thread([this] { answer(); });
  }
  void TearDown() override {
    ::shutdown(fds[1], SHUT_RDWR);
    answer_thread.join();
    io_thread.join();  // the link ends on the guest's hang-up, then its watchdog
    ::close(fds[1]);
  }
  void send_hello() {
    capnp::MallocMessageBuilder message;
    auto hello = message.initRoot<wire::Message>().initHello();
    hello.setMajor(wire::PROTOCOL_MAJOR);
    hello.setRole(wire::Hello::Role::GUEST);
    hello.setName("fakevm");
    auto exports = hello.initExports(2);
    exports[0].setName("ext4");
    exports[0].setKind(wire::Export::Kind::FILESYSTEM);
    exports[0].setEngine("mount");
    exports[1].setName("display.fake");
    exports[1].setKind(wire::Export::Kind::DISPLAY);
    exports[1].setEngine("drm");
    guest->send(message);
  }
  // Answers every request with the fake device, whatever its export index.
  void answer() {
    while (auto f = guest->read()) {
      auto request = std::make_unique<capnp::MallocMessageBuilder>();
      request->setRoot(f->message());
      auto reply = drm->call(std::move(request));
      capnp::MallocMessageBuilder out;
      out.setRoot(reply->message());
      guest->send(out);
    }
  }
  void event(uint16_t export_index, std::function<void(wire::Event::Builder)> fill) {
    capnp::MallocMessageBuilder message;
    auto e = message.initRoot<wire::Message>().initEvent();
    fill(e);
    e.setExport(export_index);
    guest->send(message);
  }
  std::shared_ptr<RemoteDisplayScheme> wait_for_display() {
    for (int i = 0; i < 300; ++i) {
      if (auto d = registry.find_display("display.fake")) return d;
      std::this_thread::sleep_for(10ms);
    }
    return nullptr;
  }
  template <typename Pred>
  bool eventually(Pred pred) {
    for (int i = 0; i < 300 && !pred(); ++i) std::this_thread::sleep_for(10ms);
    return pred();
  }
};

TEST_F(GuestLinkDisplayTest, ADisplayExportBecomesADisplaySchemeBesideTheFilesystem) {
  auto display = wait_for_display();
  ASSERT_TRUE(display);
  auto info = registry.info("display.fake");
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->display);
  EXPECT_EQ(info->engine, "drm");
  EXPECT_EQ(info->guest, "fakevm");
  EXPECT_EQ(registry.find_fs("display.fake"), nullptr);
  EXPECT_NE(registry.find_fs("ext4"), nullptr);
  auto drm_info = display->info();  // a real round trip through the link
  ASSERT_TRUE(drm_info.ok()) << drm_info.error().context;
  EXPECT_EQ(drm_info->driver, "fake-drm");
}

TEST_F(GuestLinkDisplayTest, WithoutARegionAttachSaysHowToGetOne) {
  auto display = wait_for_display();
  ASSERT_TRUE(display);
  auto a = display->attach({1, 1}, std::nullopt);
  ASSERT_EQ(a.code(), ENODEV);
  EXPECT_NE(a.error().context.find("start the VM with an ivshmem region"), std::string::npos);
}

TEST_F(GuestLinkDisplayTest, EventsReachTheDisplayByExportIndexAndOthersAreDropped) {
  auto display = wait_for_display();
  ASSERT_TRUE(display);
  ASSERT_TRUE(display->info().ok());  // learns the connector ids
  std::atomic<int> hotplugs = 0;
  display->add_hotplug_listener([&](uint32_t) { ++hotplugs; });
  auto hotplug = [](wire::Event::Builder e) { e.setHotplug(test::FakeDrmGuest::kConnector); };
  event(0, hotplug);  // the filesystem export: takes no events
  event(9, hotplug);  // no such export
  event(1, [](wire::Event::Builder e) { e.setExportGone("display.fake"); });
  event(1, [](wire::Event::Builder e) { e.initFlipDone().setCookie(12345); });  // never sent
  event(1, hotplug);
  ASSERT_TRUE(eventually([&] { return hotplugs == 1; }));
  EXPECT_EQ(display->refused_events(), 1u);  // the unknown cookie
  EXPECT_TRUE(display->info().ok());         // the link is still up
  EXPECT_TRUE(registry.info("display.fake")->online);
}

TEST_F(GuestLinkDisplayTest, TheDisplayGoesOfflineWithItsGuest) {
  ASSERT_TRUE(wait_for_display());
  ::shutdown(fds[1], SHUT_RDWR);
  ASSERT_TRUE(eventually([&] { return registry.find_display("display.fake") == nullptr; }));
  EXPECT_FALSE(registry.info("display.fake")->online);
}

}  // namespace
}  // namespace bridge::host
