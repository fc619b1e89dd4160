// DrmDispatch's checks of everything the host sends (ids, sizes, rects, region ranges, pitches)
// and its pixel copy, against FakeDrmDevice (memory) and a real memfd SharedRegion.
#include "bridge-guest/drm_dispatch.h"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>

#include "bridge-guest/dispatcher.h"
#include "bridge-guest/engines/drm/card_device.h"
#include "bridge-guest/engines/engine_factory.h"
#include "schema/frame.h"
#include "tests/unit/bridge-guest/drm_fake_device.h"

namespace bridge::guest {
namespace {

constexpr uint32_t kXrgb = 0x34325258;
constexpr uint64_t kRegionSize = 1 << 20;

class DrmDispatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto region = SharedRegion::create_memfd(kRegionSize, "drm-dispatch-test");
    ASSERT_TRUE(region.ok()) << region.error().context;
    region_ = std::move(region).value();
    auto fake = std::make_unique<FakeDrmDevice>();
    fake_ = fake.get();
    dispatch_ = std::make_unique<DrmDispatch>(std::move(fake));
  }

  template <typename Fill>
  Status call(Fill&& fill) {
    req_ = std::make_unique<capnp::MallocMessageBuilder>();
    resp_ = std::make_unique<capnp::MallocMessageBuilder>();
    auto req = req_->initRoot<wire::DrmReq>();
    fill(req);
    return dispatch_->handle(req.asReader(), resp_->initRoot<wire::Response>(), active_region_);
  }
  wire::DrmReply::Reader reply() {
    return resp_->getRoot<wire::Response>().asReader().getResult().getDrm();
  }

  uint32_t dumb(uint32_t w, uint32_t h) {
    auto st = call([&](auto r) {
      auto d = r.initCreateDumb();
      d.setWidth(w), d.setHeight(h), d.setBpp(32);
    });
    EXPECT_TRUE(st.ok()) << st.error().context;
    return reply().getDumb().getHandle();
  }
  Status add_fb(uint32_t handle, uint32_t w, uint32_t h, uint32_t pitch, uint32_t format = kXrgb) {
    return call([&](auto r) {
      auto f = r.initAddFramebuffer();
      f.setHandle(handle), f.setWidth(w), f.setHeight(h), f.setPitch(pitch), f.setFormat(format);
    });
  }
  uint32_t fb(uint32_t w, uint32_t h) {
    uint32_t handle = dumb(w, h);
    auto st = add_fb(handle, w, h, fake_->dumbs[handle].size() / h);
    EXPECT_TRUE(st.ok()) << st.error().context;
    return reply().getFramebuffer();
  }
  struct Rect {
    uint32_t x, y, w, h;
  };
  Status dirty(uint32_t fb, std::vector<Rect> rects, uint64_t offset, uint64_t length,
               uint32_t pitch) {
    return call([&](auto r) {
      auto d = r.initDirty();
      d.setFramebuffer(fb);
      auto list = d.initRects(static_cast<unsigned>(rects.size()));
      for (unsigned i = 0; i < rects.size(); ++i) {
        list[i].setX(rects[i].x), list[i].setY(rects[i].y);
        list[i].setWidth(rects[i].w), list[i].setHeight(rects[i].h);
      }
      d.getPixels().setOffset(offset), d.getPixels().setLength(length);
      d.setPitch(pitch);
    });
  }
  // Fills the shadow at `offset` (w x h, `pitch`) with a value per pixel: (y << 16) | x.
  void paint_shadow(uint64_t offset, uint32_t w, uint32_t h, uint32_t pitch) {
    auto s = region_.slice(offset, uint64_t{pitch} * h);
    ASSERT_TRUE(s.ok());
    for (uint32_t y = 0; y < h; ++y)
      for (uint32_t x = 0; x < w; ++x) {
        uint32_t v = (y << 16) | x;
        std::memcpy(s->data() + uint64_t{y} * pitch + x * 4, &v, 4);
      }
  }
  uint32_t dumb_pixel(uint32_t handle, uint32_t pitch, uint32_t x, uint32_t y) {
    uint32_t v = 0;
    std::memcpy(&v, fake_->dumbs[handle].data() + uint64_t{y} * pitch + x * 4, 4);
    return v;
  }

  SharedRegion region_;
  const SharedRegion* active_region_ = &region_;  // what the connection passes per request
  FakeDrmDevice* fake_ = nullptr;
  std::unique_ptr<DrmDispatch> dispatch_;
  std::unique_ptr<capnp::MallocMessageBuilder> req_, resp_;
};

TEST_F(DrmDispatchTest, CapsAndResourcesComeFromTheDevice) {
  ASSERT_TRUE(call([](auto r) { r.setGetCaps(); }).ok());
  EXPECT_EQ(std::string(reply().getCaps().getDriver().cStr()), "fake");
  EXPECT_FALSE(reply().getCaps().getVblank());
  uint32_t f = fb(64, 32);
  ASSERT_TRUE(call([](auto r) { r.setGetResources(); }).ok());
  auto res = reply().getResources();
  EXPECT_EQ(res.getCrtcs()[0], FakeDrmDevice::kCrtc);
  EXPECT_EQ(res.getMaxWidth(), FakeDrmDevice::kMaxSide);
  ASSERT_EQ(res.getFramebuffers().size(), 1u);  // only what this export made
  EXPECT_EQ(res.getFramebuffers()[0], f);
  ASSERT_TRUE(call([](auto r) { r.setGetConnector(FakeDrmDevice::kConnector); }).ok());
  EXPECT_EQ(reply().getConnector().getModes()[0].getHdisplay(), 640);
}

TEST_F(DrmDispatchTest, UnknownIdsAreRefused) {
  EXPECT_EQ(call([](auto r) { r.setGetConnector(999); }).code(), ENOENT);
  EXPECT_EQ(call([](auto r) { r.setGetCrtc(999); }).code(), ENOENT);
  EXPECT_EQ(call([](auto r) { r.setRemoveFramebuffer(100); }).code(), ENOENT);
  // A dumb buffer that exists on the device but was not made through this export.
  auto other = fake_->create_dumb(16, 16, 32);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(call([&](auto r) { r.setDestroyDumb(other->handle); }).code(), ENOENT);
  EXPECT_TRUE(fake_->dumbs.contains(other->handle));
  EXPECT_EQ(add_fb(other->handle, 16, 16, other->pitch).code(), ENOENT);
  EXPECT_EQ(call([](auto r) {
              auto f = r.initPageFlip();
              f.setCrtc(FakeDrmDevice::kCrtc), f.setFramebuffer(12345);
            }).code(),
            ENOENT);
  uint32_t f = fb(64, 64);
  EXPECT_EQ(call([&](auto r) {
              auto s = r.initSetCrtc();
              s.setCrtc(FakeDrmDevice::kCrtc), s.setFramebuffer(f);
              s.initConnectors(1).set(0, 777);
              s.getMode().setHdisplay(64), s.getMode().setVdisplay(64);
            }).code(),
            ENOENT);
  EXPECT_EQ(call([](auto r) { r.initMoveCursor().setCrtc(5); }).code(), ENOENT);
}

TEST_F(DrmDispatchTest, DumbSizesAreBounded) {
  auto create = [&](uint32_t w, uint32_t h, uint32_t bpp) {
    return call([&](auto r) {
      auto d = r.initCreateDumb();
      d.setWidth(w), d.setHeight(h), d.setBpp(bpp);
    });
  };
  EXPECT_EQ(create(64, 64, 24).code(), EINVAL);
  EXPECT_EQ(create(0, 64, 32).code(), EINVAL);
  EXPECT_EQ(create(FakeDrmDevice::kMaxSide + 1, 64, 32).code(), EINVAL);
  EXPECT_EQ(create(64, std::numeric_limits<uint32_t>::max(), 32).code(), EINVAL);
  EXPECT_TRUE(fake_->dumbs.empty());
  EXPECT_TRUE(create(64, 64, 32).ok());
  EXPECT_EQ(reply().getDumb().getPitch(), 256u);
}

TEST_F(DrmDispatchTest, FramebuffersMustFitTheirDumbBuffer) {
  uint32_t h = dumb(64, 32);  // pitch 256, 8192 bytes
  EXPECT_EQ(add_fb(h, 64, 32, 256, 0x36314752 /* RGB565 */).code(), EINVAL);
  EXPECT_EQ(add_fb(h, 65, 32, 256).code(), EINVAL);
  EXPECT_EQ(add_fb(h, 64, 32, 255).code(), EINVAL);         // pitch below width * 4
  EXPECT_EQ(add_fb(h, 64, 32, 512).code(), EFAULT);         // 32 rows at 512 > 8192 bytes
  EXPECT_EQ(add_fb(h, 64, 32, 0xffffffff).code(), EFAULT);  // no wrap-around
  EXPECT_TRUE(fake_->framebuffers.empty());
  ASSERT_TRUE(add_fb(h, 64, 32, 256).ok());
  uint32_t f = reply().getFramebuffer();
  EXPECT_EQ(call([&](auto r) { r.setDestroyDumb(h); }).code(), EBUSY);
  ASSERT_TRUE(call([&](auto r) { r.setRemoveFramebuffer(f); }).ok());
  ASSERT_TRUE(call([&](auto r) { r.setDestroyDumb(h); }).ok());
  EXPECT_TRUE(fake_->dumbs.empty());
}

TEST_F(DrmDispatchTest, ModesetChecksTheModeAgainstTheFramebuffer) {
  uint32_t f = fb(64, 48);
  auto modeset = [&](uint32_t fb_id, uint16_t w, uint16_t h, uint32_t x) {
    return call([&](auto r) {
      auto s = r.initSetCrtc();
      s.setCrtc(FakeDrmDevice::kCrtc), s.setFramebuffer(fb_id), s.setX(x);
      s.initConnectors(1).set(0, FakeDrmDevice::kConnector);
      s.getMode().setHdisplay(w), s.getMode().setVdisplay(h);
    });
  };
  EXPECT_EQ(modeset(f, 65, 48, 0).code(), EINVAL);
  EXPECT_EQ(modeset(f, 64, 48, 1).code(), EINVAL);
  EXPECT_EQ(modeset(f, 64, 48, 0xffffffff).code(), EINVAL);
  ASSERT_TRUE(modeset(f, 64, 48, 0).ok());
  EXPECT_EQ(fake_->last_modeset.fb, f);
  ASSERT_TRUE(modeset(0, 0, 0, 0).ok());  // disable
  EXPECT_EQ(fake_->last_modeset.fb, 0u);
}

TEST_F(DrmDispatchTest, DirtyCopiesClippedRectsBetweenPitches) {
  uint32_t f = fb(100, 50);  // dumb pitch 448 (400 rounded up to 64)
  uint32_t handle = fake_->dumbs.begin()->first;
  const uint32_t pitch = 512;  // the shadow's own pitch
  paint_shadow(4096, 100, 50, pitch);
  // One rect partly outside (clipped to 90..99 x 40..49), one wholly outside, one whose
  // x + width would wrap 32 bits.
  ASSERT_TRUE(dirty(f, {{90, 40, 64, 64}, {100, 0, 5, 5}, {10, 10, 0xffffffff, 1}}, 4096,
                    uint64_t{pitch} * 50, pitch)
                  .ok());
  ASSERT_EQ(fake_->last_dirty.rects.size(), 2u);
  EXPECT_EQ(fake_->last_dirty.rects[0].width, 10u);
  EXPECT_EQ(fake_->last_dirty.rects[0].height, 10u);
  EXPECT_EQ(fake_->last_dirty.rects[1].width, 90u);
  EXPECT_EQ(dumb_pixel(handle, 448, 95, 45), (45u << 16) | 95);
  EXPECT_EQ(dumb_pixel(handle, 448, 99, 49), (49u << 16) | 99);
  EXPECT_EQ(dumb_pixel(handle, 448, 50, 10), (10u << 16) | 50);
  EXPECT_EQ(dumb_pixel(handle, 448, 89, 40), 0u);  // outside every rect: untouched
  EXPECT_EQ(dumb_pixel(handle, 448, 50, 11), 0u);
  // Nothing left after clipping: no copy, no dirty, still done.
  int before = fake_->dirty_calls;
  ASSERT_TRUE(dirty(f, {{200, 200, 5, 5}}, 4096, uint64_t{pitch} * 50, pitch).ok());
  EXPECT_EQ(fake_->dirty_calls, before);
  // No rects: the whole framebuffer.
  ASSERT_TRUE(dirty(f, {}, 4096, uint64_t{pitch} * 50, pitch).ok());
  EXPECT_EQ(dumb_pixel(handle, 448, 0, 0), 0u);
  EXPECT_EQ(dumb_pixel(handle, 448, 1, 2), (2u << 16) | 1);
}

TEST_F(DrmDispatchTest, ShadowRangesAreChecked) {
  uint32_t f = fb(100, 50);
  const uint64_t len = 400 * 50;
  EXPECT_EQ(dirty(f, {}, kRegionSize - 100, len, 400).code(), EFAULT);  // past the end
  EXPECT_EQ(dirty(f, {}, std::numeric_limits<uint64_t>::max() - 10, len, 400).code(), EFAULT);
  EXPECT_EQ(dirty(f, {}, 0, std::numeric_limits<uint64_t>::max(), 400).code(), EFAULT);
  EXPECT_EQ(dirty(f, {}, 0, len - 1, 400).code(), EFAULT);             // pitch * height > length
  EXPECT_EQ(dirty(f, {}, 0, len, 399).code(), EINVAL);                 // pitch < width * 4
  EXPECT_EQ(dirty(f, {}, 0, kRegionSize, 0xffffffff).code(), EFAULT);  // pitch * height huge
  EXPECT_EQ(fake_->dirty_calls, 0);
  std::vector<Rect> many(DrmDispatch::kRectsMax + 1, Rect{0, 0, 1, 1});
  EXPECT_EQ(dirty(f, many, 0, len, 400).code(), E2BIG);
  EXPECT_TRUE(dirty(f, {}, 0, len, 400).ok());
}

TEST_F(DrmDispatchTest, WithoutARegionPixelsAreNotSupported) {
  auto fake = std::make_unique<FakeDrmDevice>();
  FakeDrmDevice* raw = fake.get();
  dispatch_ = std::make_unique<DrmDispatch>(std::move(fake));
  fake_ = raw;
  active_region_ = nullptr;  // the connection has no shared region
  uint32_t f = fb(16, 16);
  auto st = dirty(f, {}, 0, 1024, 64);
  EXPECT_EQ(st.code(), ENOTSUP);
  EXPECT_NE(st.error().context.find("no shared region"), std::string::npos);
}

TEST_F(DrmDispatchTest, PageFlipCopiesThenFlipsWithTheCookie) {
  uint32_t f = fb(32, 32);
  paint_shadow(0, 32, 32, 128);
  ASSERT_TRUE(call([&](auto r) {
                auto p = r.initPageFlip();
                p.setCrtc(FakeDrmDevice::kCrtc), p.setFramebuffer(f), p.setCookie(42);
                p.getPixels().setLength(128 * 32), p.setPitch(128);
              }).ok());
  EXPECT_EQ(fake_->last_flip.cookie, 42u);
  EXPECT_EQ(dumb_pixel(fake_->dumbs.begin()->first, 128, 31, 31), (31u << 16) | 31);
}

TEST_F(DrmDispatchTest, CursorAndVblankChecks) {
  auto cursor = [&](uint32_t w, uint32_t h, uint64_t length) {
    return call([&](auto r) {
      auto c = r.initSetCursor();
      c.setCrtc(FakeDrmDevice::kCrtc), c.setWidth(w), c.setHeight(h);
      c.getPixels().setLength(length);
    });
  };
  EXPECT_EQ(cursor(65, 64, 1 << 16).code(), EINVAL);
  EXPECT_EQ(cursor(64, 64, 64 * 64 * 4 - 1).code(), EFAULT);
  ASSERT_TRUE(cursor(64, 64, 64 * 64 * 4).ok());
  EXPECT_EQ(fake_->cursor_bytes, 64u * 64 * 4);
  ASSERT_TRUE(cursor(0, 0, 0).ok());  // hide
  EXPECT_EQ(fake_->cursor_bytes, 0u);
  EXPECT_EQ(call([](auto r) { r.initRequestVblank().setCrtc(FakeDrmDevice::kCrtc); }).code(),
            ENOTSUP);
}

TEST_F(DrmDispatchTest, ExportLimitsAndReleaseAll) {
  for (std::size_t i = 0; i < DrmDispatch::kDumbMax; ++i) dumb(8, 8);
  EXPECT_EQ(call([](auto r) {
              auto d = r.initCreateDumb();
              d.setWidth(8), d.setHeight(8), d.setBpp(32);
            }).code(),
            ENOSPC);
  ASSERT_TRUE(add_fb(1, 8, 8, 64).ok());
  dispatch_->release_all();
  EXPECT_TRUE(fake_->dumbs.empty());
  EXPECT_TRUE(fake_->framebuffers.empty());
}

TEST_F(DrmDispatchTest, EventsCarryTheExportIndex) {
  std::vector<kj::Array<capnp::word>> sent;
  dispatch_->start_events(3);
  fake_->sink(DrmEvent{DrmEvent::Kind::flip_done, 10, 5, 6, 77, 0});  // no sink yet: dropped
  dispatch_->set_event_sink([&sent](kj::Array<capnp::word> f) { sent.push_back(std::move(f)); });
  fake_->sink(DrmEvent{DrmEvent::Kind::flip_done, 10, 5, 6, 77, 0});
  fake_->sink(DrmEvent{DrmEvent::Kind::hotplug, 0, 0, 0, 0, 20});
  ASSERT_EQ(sent.size(), 2u);
  auto bytes = sent[0].asBytes();
  auto decoded = frame::decode({reinterpret_cast<const std::byte*>(bytes.begin()), bytes.size()});
  ASSERT_TRUE(decoded.ok());
  auto event = decoded->frame.message().getEvent();
  EXPECT_EQ(event.getExport(), 3);
  ASSERT_TRUE(event.isFlipDone());
  EXPECT_EQ(event.getFlipDone().getCookie(), 77u);
  EXPECT_EQ(event.getFlipDone().getCrtc(), 10u);
  auto bytes2 = sent[1].asBytes();
  auto decoded2 =
      frame::decode({reinterpret_cast<const std::byte*>(bytes2.begin()), bytes2.size()});
  ASSERT_TRUE(decoded2.ok());
  EXPECT_EQ(decoded2->frame.message().getEvent().getHotplug(), 20u);
}

TEST(DrmDisplayExport, DispatcherServesDisplayRequestsOnly) {
  std::vector<std::unique_ptr<ServedExport>> exports;
  auto dispatch = std::make_unique<DrmDispatch>(std::make_unique<FakeDrmDevice>());
  exports.push_back(std::make_unique<ServedExport>(
      ExportSpec{"display.fake", "drm", "/dev/dri/card0", false}, std::move(dispatch), 7));
  Dispatcher dispatcher(std::move(exports), 7);
  capnp::MallocMessageBuilder hello;
  dispatcher.describe("g", 0, hello.initRoot<wire::Hello>());
  auto exp = hello.getRoot<wire::Hello>().getExports()[0];
  EXPECT_EQ(exp.getKind(), wire::Export::Kind::DISPLAY);
  EXPECT_EQ(std::string(exp.getEngine().cStr()), "drm");
  auto ask = [&dispatcher](auto fill) {
    capnp::MallocMessageBuilder m;
    auto req = m.initRoot<wire::Message>().initRequest();
    fill(req.initOp());
    auto words = dispatcher.handle(req.asReader());
    auto b = words.asBytes();
    auto d = frame::decode({reinterpret_cast<const std::byte*>(b.begin()), b.size()});
    EXPECT_TRUE(d.ok());
    auto r = d->frame.message().getResponse().getResult();
    return r.isError() ? r.getError() : wire::Errno::OK;
  };
  EXPECT_EQ(ask([](auto op) { op.initDrm().setGetCaps(); }), wire::Errno::OK);
  EXPECT_EQ(ask([](auto op) { op.setPing(); }), wire::Errno::OK);
  EXPECT_EQ(ask([](auto op) { op.initStatfs(); }), wire::Errno::NOTSUP);
}

TEST(DrmSchemeName, DriverNamesMapToSchemeNames) {
  EXPECT_EQ(display_scheme_name("bochs-drm"), "display.bochs");
  EXPECT_EQ(display_scheme_name("virtio_gpu"), "display.virtio-gpu");
  EXPECT_EQ(display_scheme_name("simpledrm"), "display.simpledrm");
  EXPECT_EQ(display_scheme_name("Cirrus_DRM"), "display.cirrus");
  EXPECT_EQ(display_scheme_name("a b/c"), "display.a-b-c");
}

TEST(DrmExportSpec, DisplaySpecsParse) {
  auto a = parse_export_spec("display.bochs=drm:/dev/dri/card0");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->engine, "drm");
  EXPECT_EQ(a->source, "/dev/dri/card0");
  auto b = parse_export_spec("display=drm:auto");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->name, "display");
  EXPECT_EQ(b->source, "auto");
}

TEST(DrmExportSpec, ReadOnlyDisplayIsRefused) {
  auto spec = parse_export_spec("display=drm:auto,ro");
  ASSERT_TRUE(spec.ok());
  auto opened = open_display(*spec);
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.code(), EINVAL);
}

TEST(DrmExportSpec, MissingCardIsAClearError) {
  auto opened = open_display(ExportSpec{"display", "drm", "/nonexistent/card9", false});
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.code(), ENOENT);
  EXPECT_NE(opened.error().context.find("/nonexistent/card9"), std::string::npos);
}

}  // namespace
}  // namespace bridge::guest
