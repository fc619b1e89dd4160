// RemoteDisplayScheme against FakeDrmGuest, a SIMULATED DRM guest (no DRM on this host): the
// pixels a client draws in the shadow buffers reach the fake's scanout exactly, ownership is
// exclusive, and hostile guest answers are refused without crashing.
#include "schemes/remote_display_scheme.h"

#include <gtest/gtest.h>

#include "tests/unit/schemes/fake_drm_guest.h"

namespace bridge {
namespace {

using test::FakeDrmGuest;

constexpr Owner kAlice{1, 1111};
constexpr Owner kBob{2, 2222};

struct Fixture : ::testing::Test {
  std::shared_ptr<FakeDrmGuest> guest = std::make_shared<FakeDrmGuest>();
  std::shared_ptr<RemoteDisplayScheme> scheme =
      RemoteDisplayScheme::create(guest, 0, "display.fake");

  // An event handler may still hold the scheme (and through it the fake) when the test body
  // ends; the fake must not be destroyed on its own event thread.
  void TearDown() override { guest->wait_events_delivered(); }

  uint32_t* pixels(const ShadowBuffer& b, uint32_t y) {
    auto span = guest->region()->mapping.slice(b.offset, b.length).value();
    // INVARIANT: leases are page-aligned, so rows of u32 are aligned.
    return reinterpret_cast<uint32_t*>(span.data() + uint64_t{y} * b.pitch);
  }
  void draw(const ShadowBuffer& b, uint32_t seed) {
    for (uint32_t y = 0; y < b.height; ++y)
      for (uint32_t x = 0; x < b.width; ++x) pixels(b, y)[x] = (x * 7 + y * 13 + seed) & 0xffffff;
  }
  // The scanout holds exactly `b` as drawn with `seed`, sampled on a grid and the edges.
  void expect_scanout(const ShadowBuffer& b, uint32_t seed) {
    for (uint32_t y = 0; y < b.height; y += (y + 1 == b.height ? 1 : 7))
      for (uint32_t x = 0; x < b.width; ++x)
        ASSERT_EQ(guest->scanout(x, y), (x * 7 + y * 13 + seed) & 0xffffff) << x << "," << y;
    for (uint32_t y = 0; y < b.height; ++y)
      ASSERT_EQ(guest->scanout(b.width - 1, y), ((b.width - 1) * 7 + y * 13 + seed) & 0xffffff);
  }
};

TEST_F(Fixture, InfoListsTheConnectorAndItsModes) {
  auto info = scheme->info();
  ASSERT_TRUE(info.ok()) << info.error().context;
  EXPECT_EQ(info->driver, "fake-drm");
  ASSERT_EQ(info->connectors.size(), 1u);
  EXPECT_EQ(info->connectors[0].name, "Virtual-1");
  EXPECT_TRUE(info->connectors[0].connected);
  ASSERT_EQ(info->connectors[0].modes.size(), 2u);
  EXPECT_TRUE(info->connectors[0].modes[0].preferred());
  EXPECT_EQ(info->connectors[0].modes[1].hdisplay, 800);
}

TEST_F(Fixture, AttachSetsThePreferredModeWithTwoPageAlignedShadows) {
  auto a = scheme->attach(kAlice, std::nullopt);
  ASSERT_TRUE(a.ok()) << a.error().context;
  EXPECT_EQ(a->mode.hdisplay, 1024);
  EXPECT_EQ(a->mode.vdisplay, 768);
  for (const auto& b : a->buffers) {
    EXPECT_EQ(b.pitch, 4096u);
    EXPECT_EQ(b.offset % 4096, 0u);
    EXPECT_GE(b.length, 4096u * 768);
  }
  EXPECT_NE(a->buffers[0].offset, a->buffers[1].offset);
  EXPECT_EQ(a->cursor.width, 64u);
  EXPECT_EQ(guest->live_dumbs(), 2u);
  EXPECT_NE(guest->shown_framebuffer(), 0u);
  EXPECT_EQ(guest->shown_width(), 1024u);
}

TEST_F(Fixture, AttachTakesARequestedModeAndRefusesAnUnlistedOne) {
  EXPECT_EQ(scheme->attach(kAlice, std::pair{640u, 480u}).code(), EINVAL);
  EXPECT_EQ(guest->live_dumbs(), 0u);
  auto a = scheme->attach(kAlice, std::pair{800u, 600u});
  ASSERT_TRUE(a.ok()) << a.error().context;
  EXPECT_EQ(a->buffers[0].width, 800u);
  EXPECT_EQ(a->buffers[0].pitch, 3200u);
  EXPECT_EQ(guest->shown_width(), 800u);
}

TEST_F(Fixture, DamageOfTheWholeBufferPutsExactlyThosePixelsOnTheScanout) {
  auto a = scheme->attach(kAlice, std::nullopt).value();
  draw(a.buffers[0], 5);
  ASSERT_TRUE(scheme->damage(kAlice.id, 0, {}).ok());
  expect_scanout(a.buffers[0], 5);
}

TEST_F(Fixture, ASmallDamageRectChangesOnlyThatArea) {
  auto a = scheme->attach(kAlice, std::nullopt).value();
  draw(a.buffers[0], 5);
  ASSERT_TRUE(scheme->damage(kAlice.id, 0, {}).ok());
  for (uint32_t y = 0; y < a.buffers[0].height; ++y)
    for (uint32_t x = 0; x < a.buffers[0].width; ++x) pixels(a.buffers[0], y)[x] = 0xabcdef;
  DisplayRect rect{100, 200, 30, 20};
  ASSERT_TRUE(scheme->damage(kAlice.id, 0, std::span(&rect, 1)).ok());
  for (uint32_t y = 190; y < 230; ++y) {
    for (uint32_t x = 90; x < 140; ++x) {
      bool inside = x >= 100 && x < 130 && y >= 200 && y < 220;
      EXPECT_EQ(guest->scanout(x, y), inside ? 0xabcdefu : (x * 7 + y * 13 + 5) & 0xffffff)
          << x << "," << y;
    }
  }
}

TEST_F(Fixture, FlipShowsTheOtherBufferAndCompletesThroughTheFlipDoneEvent) {
  auto a = scheme->attach(kAlice, std::nullopt).value();
  const uint32_t first = guest->shown_framebuffer();
  draw(a.buffers[1], 9);
  ASSERT_TRUE(scheme->flip(kAlice.id, 1, {}).ok());
  EXPECT_NE(guest->shown_framebuffer(), first);
  expect_scanout(a.buffers[1], 9);
  EXPECT_EQ(scheme->refused_events(), 0u);
}

TEST_F(Fixture, AFlipWhoseEventNeverComesTimesOut) {
  auto a = scheme->attach(kAlice, std::nullopt).value();
  guest->set_flip_done(false);
  scheme->set_flip_timeout(std::chrono::milliseconds(100));
  EXPECT_EQ(scheme->flip(kAlice.id, 1, {}).code(), ETIMEDOUT);
}

TEST_F(Fixture, ASecondOwnerGetsEbusyNamingTheFirstUntilItDetaches) {
  const uint64_t free_before = guest->region()->allocator.bytes_free();
  ASSERT_TRUE(scheme->attach(kAlice, std::nullopt).ok());
  auto busy = scheme->attach(kBob, std::nullopt);
  ASSERT_EQ(busy.code(), EBUSY);
  EXPECT_NE(busy.error().context.find("pid 1111"), std::string::npos) << busy.error().context;
  EXPECT_EQ(scheme->damage(kBob.id, 0, {}).code(), EPERM);
  ASSERT_TRUE(scheme->detach(kBob.id).ok());  // not the owner: changes nothing
  EXPECT_EQ(scheme->owner()->pid, 1111);
  ASSERT_TRUE(scheme->detach(kAlice.id).ok());
  EXPECT_EQ(guest->live_dumbs(), 0u);
  EXPECT_EQ(guest->live_framebuffers(), 0u);
  EXPECT_EQ(guest->shown_framebuffer(), 0u);
  EXPECT_EQ(guest->region()->allocator.bytes_free(), free_before);
  EXPECT_TRUE(scheme->attach(kBob, std::nullopt).ok());
}

TEST_F(Fixture, ClientRectanglesAndBufferIndicesAreChecked) {
  ASSERT_TRUE(scheme->attach(kAlice, std::nullopt).ok());
  const std::size_t before = guest->requests();
  DisplayRect outside{1000, 0, 100, 10};
  DisplayRect wraps{10, 10, 0xffffffff, 1};
  DisplayRect empty{0, 0, 0, 5};
  EXPECT_EQ(scheme->damage(kAlice.id, 2, {}).code(), EINVAL);
  EXPECT_EQ(scheme->damage(kAlice.id, 0, std::span(&outside, 1)).code(), EINVAL);
  EXPECT_EQ(scheme->flip(kAlice.id, 0, std::span(&wraps, 1)).code(), EINVAL);
  EXPECT_EQ(scheme->damage(kAlice.id, 0, std::span(&empty, 1)).code(), EINVAL);
  std::vector<DisplayRect> many(DisplayLimits::kRectsMax + 1, DisplayRect{0, 0, 1, 1});
  EXPECT_EQ(scheme->damage(kAlice.id, 0, many).code(), EINVAL);
  EXPECT_EQ(scheme->set_cursor(kAlice.id, 65, 10, 0, 0).code(), EINVAL);
  EXPECT_EQ(guest->requests(), before);  // none of it reached the guest
  EXPECT_TRUE(scheme->set_cursor(kAlice.id, 64, 64, 1, 1).ok());
  EXPECT_TRUE(scheme->move_cursor(kAlice.id, -5, 300).ok());
}

TEST(RemoteDisplaySchemeNoRegion, AttachSaysToStartTheVmWithARegion) {
  auto guest = std::make_shared<FakeDrmGuest>(false);
  auto scheme = RemoteDisplayScheme::create(guest, 0, "display.fake");
  auto a = scheme->attach(kAlice, std::nullopt);
  ASSERT_EQ(a.code(), ENODEV);
  EXPECT_NE(a.error().context.find("the guest has no shared region; start the VM with an "
                                   "ivshmem region"),
            std::string::npos);
  EXPECT_TRUE(scheme->info().ok());  // info needs no region
}

// Hostile answers: each is refused with EIO, leaves nothing behind, and the scheme still works
// once the guest behaves.
struct Hostile : Fixture {
  void expect_refused(const char* why, FakeDrmGuest::Hostile hostile) {
    guest->set_hostile(std::move(hostile));
    auto a = scheme->attach(kAlice, std::nullopt);
    ASSERT_EQ(a.code(), EIO) << (a.ok() ? "accepted" : a.error().context);
    EXPECT_NE(a.error().context.find(why), std::string::npos) << a.error().context;
    EXPECT_FALSE(scheme->owner().has_value());
    EXPECT_EQ(guest->live_dumbs(), 0u);
    guest->set_hostile(nullptr);
    EXPECT_TRUE(scheme->attach(kAlice, std::nullopt).ok());
  }
};

TEST_F(Hostile, AnswerOfTheWrongKindIsRefused) {
  expect_refused("wrong kind", [](wire::DrmReq::Reader req, wire::Response::Builder resp) {
    if (!req.isGetResources()) return false;
    resp.getResult().setPong();
    return true;
  });
}

TEST_F(Hostile, DrmReplyOfTheWrongKindIsRefused) {
  expect_refused("wrong kind", [](wire::DrmReq::Reader req, wire::Response::Builder resp) {
    if (!req.isCreateDumb()) return false;
    resp.getResult().initDrm().setFramebuffer(7);
    return true;
  });
}

TEST_F(Hostile, AMillionModesAreRefused) {
  expect_refused("1000000 modes", [](wire::DrmReq::Reader req, wire::Response::Builder resp) {
    if (!req.isGetConnector()) return false;
    auto c = resp.getResult().initDrm().initConnector();
    c.setId(FakeDrmGuest::kConnector);
    c.setConnected(true);
    c.initModes(1000000);
    return true;
  });
}

TEST_F(Hostile, AConnectorIdNeverAskedForIsRefused) {
  expect_refused("connector 999", [](wire::DrmReq::Reader req, wire::Response::Builder resp) {
    if (!req.isGetConnector()) return false;
    auto c = resp.getResult().initDrm().initConnector();
    c.setId(999);
    c.setConnected(true);
    return true;
  });
}

TEST_F(Hostile, TooManyConnectorsAreRefused) {
  expect_refused("5000 connectors", [](wire::DrmReq::Reader req, wire::Response::Builder resp) {
    if (!req.isGetResources()) return false;
    auto r = resp.getResult().initDrm().initResources();
    r.initCrtcs(1).set(0, FakeDrmGuest::kCrtc);
    auto ids = r.initConnectors(5000);
    for (unsigned i = 0; i < ids.size(); ++i) ids.set(i, i + 1);
    return true;
  });
}

TEST_F(Hostile, AnImpossibleModeIsRefused) {
  expect_refused("impossible mode", [](wire::DrmReq::Reader req, wire::Response::Builder resp) {
    if (!req.isGetConnector()) return false;
    auto c = resp.getResult().initDrm().initConnector();
    c.setId(FakeDrmGuest::kConnector);
    c.setConnected(true);
    auto m = c.initModes(1)[0];
    m.setHdisplay(1024);
    m.setHtotal(10);  // total smaller than the picture
    m.setVdisplay(768);
    m.setVtotal(800);
    m.setClock(1);
    return true;
  });
}

TEST_F(Hostile, AnUnusableDumbBufferIsRefused) {
  expect_refused("unusable dumb buffer",
                 [](wire::DrmReq::Reader req, wire::Response::Builder resp) {
                   if (!req.isCreateDumb()) return false;
                   auto d = resp.getResult().initDrm().initDumb();
                   d.setHandle(5);
                   d.setPitch(16);  // shorter than a row
                   return true;
                 });
}

// The only region range a display reply can carry is DumbBuffer.pixels; ranges are the host's
// to lease, so a guest naming one (here far outside any lease) is refused, not believed.
TEST_F(Hostile, ADumbBufferNamingARegionRangeIsRefused) {
  expect_refused("guest named region range",
                 [](wire::DrmReq::Reader req, wire::Response::Builder resp) {
                   if (!req.isCreateDumb()) return false;
                   auto d = resp.getResult().initDrm().initDumb();
                   d.setHandle(5);
                   d.setPitch(req.getCreateDumb().getWidth() * 4);
                   d.setSize(uint64_t{d.getPitch()} * req.getCreateDumb().getHeight());
                   d.initPixels().setOffset(uint64_t{1} << 40);
                   d.getPixels().setLength(uint64_t{1} << 20);
                   return true;
                 });
}

TEST_F(Hostile, UnknownFlipCookiesAndUnlistedHotplugIdsAreCountedAndDropped) {
  auto a = scheme->attach(kAlice, std::nullopt);
  ASSERT_TRUE(a.ok());
  int hotplugs = 0;
  auto id = scheme->add_hotplug_listener([&](uint32_t connector) {
    EXPECT_EQ(connector, FakeDrmGuest::kConnector);
    ++hotplugs;
  });
  guest->emit([](wire::Event::Builder e) {
    e.setExport(0);
    e.initFlipDone().setCookie(0xdeadbeef);
  });
  guest->emit([](wire::Event::Builder e) {
    e.setExport(0);
    e.setHotplug(4242);
  });
  guest->emit([](wire::Event::Builder e) {
    e.setExport(0);
    e.setHotplug(FakeDrmGuest::kConnector);
  });
  guest->emit([](wire::Event::Builder e) {  // another export's event: not this scheme's
    e.setExport(1);
    e.setHotplug(FakeDrmGuest::kConnector);
  });
  guest->wait_events_delivered();
  EXPECT_EQ(scheme->refused_events(), 2u);
  EXPECT_EQ(hotplugs, 1);
  scheme->remove_hotplug_listener(id);
  EXPECT_TRUE(scheme->flip(kAlice.id, 1, {}).ok());  // still works
}

}  // namespace
}  // namespace bridge
