// The display frontend over real unix sockets, driven by the real client library, in front of
// a RemoteDisplayScheme whose guest is FakeDrmGuest (a SIMULATED DRM export: no DRM here).
#include "bridge-host/frontends/display/display_frontend.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "client/display_client.h"
#include "schemes/remote_display_scheme.h"
#include "tests/unit/schemes/fake_drm_guest.h"

namespace bridge::host {
namespace {

using display::Client;
using test::FakeDrmGuest;

std::string temp_dir() {
  char tmpl[] = "/tmp/display-frontend-XXXXXX";
  return ::mkdtemp(tmpl);
}

struct DisplayFrontendTest : ::testing::Test {
  std::string dir = temp_dir();
  SchemeRegistry registry;
  std::shared_ptr<FakeDrmGuest> guest = std::make_shared<FakeDrmGuest>();
  std::shared_ptr<RemoteDisplayScheme> scheme =
      RemoteDisplayScheme::create(guest, 0, "display.fake");
  std::unique_ptr<DisplayFrontend> frontend;
  std::string path = dir + "/display.fake.sock";

  void SetUp() override {
    frontend = std::make_unique<DisplayFrontend>(registry, DisplayFrontendOptions{dir});
    frontend->attach_to_registry();
    SchemeInfo info{"display.fake", true, "drm", false, true, "fakevm", ""};
    registry.put_display(info, scheme);
  }
  void TearDown() override {
    frontend.reset();
    guest->wait_events_delivered();  // no handler may still hold the scheme (see the fake)
    std::filesystem::remove_all(dir);
  }
  std::unique_ptr<Client> connect() {
    auto c = Client::connect(path);
    EXPECT_TRUE(c.ok()) << c.error().context;
    return c ? std::move(*c) : nullptr;
  }
  bool wait_until_free() {
    for (int i = 0; i < 200; ++i) {
      if (!scheme->owner()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
};

uint32_t pattern(uint32_t x, uint32_t y) {
  return (x * 3 + y * 1021) & 0xffffff;
}

TEST_F(DisplayFrontendTest, TheSocketAppearsWithMode0660) {
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
}

TEST_F(DisplayFrontendTest, InfoReachesTheClient) {
  auto c = connect();
  auto info = c->info();
  ASSERT_TRUE(info.ok()) << info.error().context;
  EXPECT_EQ(info->driver, "fake-drm");
  ASSERT_EQ(info->connectors.size(), 1u);
  EXPECT_EQ(info->connectors[0].name, "Virtual-1");
  ASSERT_EQ(info->connectors[0].modes.size(), 2u);
  EXPECT_EQ(info->connectors[0].modes[0].width, 1024u);
  EXPECT_TRUE(info->connectors[0].modes[0].preferred);
}

TEST_F(DisplayFrontendTest, AClientDrawsAPatternAndTheScanoutHoldsExactlyThosePixels) {
  auto c = connect();
  auto frame = c->attach();
  ASSERT_TRUE(frame.ok()) << frame.error().context;
  const auto& b = frame->buffers[0];
  ASSERT_EQ(b.desc.width, 1024u);
  for (uint32_t y = 0; y < b.desc.height; ++y)
    for (uint32_t x = 0; x < b.desc.width; ++x) b.row(y)[x] = pattern(x, y);
  ASSERT_TRUE(c->damage(0).ok());
  for (uint32_t y = 0; y < b.desc.height; ++y)
    for (uint32_t x = 0; x < b.desc.width; ++x)
      ASSERT_EQ(guest->scanout(x, y), pattern(x, y)) << x << "," << y;

  // A small rectangle changes only itself.
  for (uint32_t y = 0; y < b.desc.height; ++y)
    for (uint32_t x = 0; x < b.desc.width; ++x) b.row(y)[x] = 0x123456;
  display::Rect rect{512, 384, 16, 8};
  ASSERT_TRUE(c->damage(0, std::span(&rect, 1)).ok());
  for (uint32_t y = 370; y < 400; ++y)
    for (uint32_t x = 500; x < 540; ++x) {
      bool inside = x >= 512 && x < 528 && y >= 384 && y < 392;
      ASSERT_EQ(guest->scanout(x, y), inside ? 0x123456u : pattern(x, y)) << x << "," << y;
    }
}

TEST_F(DisplayFrontendTest, AFlipReturnsOnceTheGuestReportsItDone) {
  auto c = connect();
  auto frame = c->attach(std::pair{800u, 600u});
  ASSERT_TRUE(frame.ok()) << frame.error().context;
  const auto& b = frame->buffers[1];
  for (uint32_t y = 0; y < b.desc.height; ++y)
    for (uint32_t x = 0; x < b.desc.width; ++x) b.row(y)[x] = pattern(x, y);
  const uint32_t before = guest->shown_framebuffer();
  ASSERT_TRUE(c->flip(1).ok());
  EXPECT_NE(guest->shown_framebuffer(), before);
  EXPECT_EQ(guest->scanout(799, 599), pattern(799, 599));
  EXPECT_TRUE(c->set_cursor(16, 16, 0, 0).ok());
  EXPECT_TRUE(c->move_cursor(10, 10).ok());
}

TEST_F(DisplayFrontendTest, ASecondClientGetsEbusyAndTheDisplayOnceTheFirstDisconnects) {
  auto first = connect();
  ASSERT_TRUE(first->attach().ok());
  auto second = connect();
  auto busy = second->attach();
  ASSERT_EQ(busy.code(), EBUSY);
  EXPECT_NE(busy.error().context.find("pid " + std::to_string(::getpid())), std::string::npos)
      << busy.error().context;
  // Not the owner: its damage is refused, and the owner is unaffected.
  EXPECT_EQ(second->damage(0).code(), EPERM);
  EXPECT_TRUE(first->damage(0).ok());
  first.reset();  // gone mid-frame, without detaching
  ASSERT_TRUE(wait_until_free());
  EXPECT_EQ(guest->live_dumbs(), 0u);
  auto frame = second->attach();
  ASSERT_TRUE(frame.ok()) << frame.error().context;
  EXPECT_TRUE(second->flip(1).ok());
}

TEST_F(DisplayFrontendTest, HostileClientRequestsGetErrorsAndTheServerStaysUp) {
  auto c = connect();
  ASSERT_TRUE(c->attach().ok());
  auto raw = [&](std::vector<uint8_t> bytes) {
    // INVARIANT: uint8_t and std::byte are both plain bytes.
    auto r = c->send_raw({reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()});
    EXPECT_TRUE(r.ok());
    return r ? *r : -1;
  };
  EXPECT_EQ(raw({0xde, 0xad}), EPROTO);                                      // shorter than a type
  EXPECT_EQ(raw({0x99, 0, 0, 0}), EPROTO);                                   // unknown type
  EXPECT_EQ(raw({3, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}), EPROTO);  // 4G rects
  EXPECT_EQ(raw({1, 0, 0, 0, 1}), EPROTO);                                   // trailing byte
  EXPECT_EQ(raw(std::vector<uint8_t>(display::kPacketMax + 100, 3)), EPROTO);  // oversized
  display::Writer bad_buffer(display::MsgType::damage);
  bad_buffer.u32(7).u32(0);
  EXPECT_EQ(*c->send_raw(bad_buffer.bytes()), EINVAL);
  display::Rect outside{1020, 760, 10, 10};
  EXPECT_EQ(c->damage(0, std::span(&outside, 1)).code(), EINVAL);
  EXPECT_EQ(c->flip(2).code(), EINVAL);
  EXPECT_TRUE(c->damage(0).ok());  // the connection is still good
  auto other = connect();
  EXPECT_TRUE(other->info().ok());  // and so is the server
}

TEST_F(DisplayFrontendTest, HotplugReachesClientsAsAnEvent) {
  auto c = connect();
  ASSERT_TRUE(c->info().ok());
  guest->emit([](wire::Event::Builder e) {
    e.setExport(0);
    e.setHotplug(FakeDrmGuest::kConnector);
  });
  guest->wait_events_delivered();
  ASSERT_TRUE(c->info().ok());  // the event arrived before this reply
  auto event = c->next_event();
  ASSERT_TRUE(event.has_value());
  EXPECT_EQ(event->hotplug_connector, FakeDrmGuest::kConnector);
}

TEST_F(DisplayFrontendTest, AnOfflineSchemeAnswersEnodev) {
  registry.set_owner("display.fake", this);
  registry.mark_offline(this);
  auto c = connect();
  auto info = c->info();
  ASSERT_EQ(info.code(), ENODEV);
  EXPECT_NE(info.error().context.find("offline"), std::string::npos);
}

TEST(DisplayClient, AMissingSocketIsAClearError) {
  auto c = Client::connect("/nonexistent/display.none.sock");
  ASSERT_EQ(c.code(), ENOENT);
  EXPECT_NE(c.error().context.find("/nonexistent/display.none.sock"), std::string::npos);
}

}  // namespace
}  // namespace bridge::host
