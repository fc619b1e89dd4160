// display-demo as a user runs it: the real binary against the real display frontend, in front
// of FakeDrmGuest (a SIMULATED DRM export: no DRM on this host).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "bridge-host/frontends/display/display_frontend.h"
#include "client/display_client.h"
#include "schemes/remote_display_scheme.h"
#include "tests/unit/schemes/fake_drm_guest.h"

namespace bridge {
namespace {

struct Run {
  int status = -1;
  std::string output;
};

Run run_demo(const std::string& args) {
  std::string cmd =
      std::string(BRIDGE_BINARY_DIR) + "/tools/display-demo/display-demo " + args + " 2>&1";
  Run r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

struct DisplayDemoTest : ::testing::Test {
  std::string dir = [] {
    char tmpl[] = "/tmp/display-demo-XXXXXX";
    return std::string(::mkdtemp(tmpl));
  }();
  SchemeRegistry registry;
  std::shared_ptr<test::FakeDrmGuest> guest = std::make_shared<test::FakeDrmGuest>();
  std::unique_ptr<host::DisplayFrontend> frontend;
  std::string socket = dir + "/display.fake.sock";

  void SetUp() override {
    frontend = std::make_unique<host::DisplayFrontend>(registry, host::DisplayFrontendOptions{dir});
    frontend->attach_to_registry();
    registry.put_display({"display.fake", true, "drm", false, true, "fakevm", ""},
                         RemoteDisplayScheme::create(guest, 0, "display.fake"));
  }
  void TearDown() override {
    frontend.reset();
    guest->wait_events_delivered();  // no handler may still hold the scheme (see the fake)
    std::filesystem::remove_all(dir);
  }
};

TEST_F(DisplayDemoTest, FlipsFramesAndReportsRateAndLatency) {
  const std::size_t before = guest->requests();
  auto r = run_demo("--socket " + socket + " --frames 20");
  ASSERT_EQ(r.status, 0) << r.output;
  std::fputs(r.output.c_str(), stdout);  // the numbers, for whoever reads the test log
  EXPECT_NE(r.output.find("1024x768"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("frames: 20 in"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("median"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("p90"), std::string::npos) << r.output;
  EXPECT_GE(guest->requests() - before, 20u);  // a pageFlip per frame
  EXPECT_EQ(guest->live_dumbs(), 0u);          // it detached at the end
}

TEST_F(DisplayDemoTest, MovesASquareWithDamageRectangles) {
  const std::size_t before = guest->requests();
  auto r = run_demo("--socket " + socket + " --frames 10 --rect");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("damage rectangles"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("frames: 10 in"), std::string::npos) << r.output;
  // One full damage, then one per frame, besides attach and detach.
  EXPECT_GE(guest->requests() - before, 11u);
  EXPECT_EQ(guest->shown_framebuffer(), 0u);  // it detached at the end: the CRTC is off
  EXPECT_EQ(guest->live_dumbs(), 0u);
}

TEST_F(DisplayDemoTest, TheSquaresSideIsAnOption) {
  auto r = run_demo("--socket " + socket + " --frames 5 --rect --side 64");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("a 64x64 square"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("frames: 5 in"), std::string::npos) << r.output;
  // Larger than the 1024x768 mode: refused after attach, and the display is released.
  EXPECT_EQ(run_demo("--socket " + socket + " --frames 1 --rect --side 768").status, 2);
  EXPECT_EQ(guest->live_dumbs(), 0u);
  EXPECT_EQ(run_demo("--side 0").status, 2);
}

TEST_F(DisplayDemoTest, AMissingSocketIsAClearError) {
  auto r = run_demo("--socket " + dir + "/display.none.sock --frames 1");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("display.none.sock"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("is bridge-host running"), std::string::npos) << r.output;
}

TEST_F(DisplayDemoTest, AnOwnedDisplayIsAClearError) {
  auto owner = display::Client::connect(socket);
  ASSERT_TRUE(owner.ok());
  ASSERT_TRUE((*owner)->attach().ok());
  auto r = run_demo("--socket " + socket + " --frames 1");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("in use by pid " + std::to_string(::getpid())), std::string::npos)
      << r.output;
}

TEST_F(DisplayDemoTest, BadArgumentsExitWithStatus2) {
  EXPECT_EQ(run_demo("--frames 0").status, 2);
  EXPECT_EQ(run_demo("--bogus").status, 2);
  EXPECT_EQ(run_demo("--help").status, 0);
}

}  // namespace
}  // namespace bridge
