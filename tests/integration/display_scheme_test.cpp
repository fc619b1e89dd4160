// The real bridge-host process with --display-dir, a guest that announces a display export,
// and a real display client. The guest's DRM answers come from FakeDrmGuest, a SIMULATED DRM
// export (there is no DRM device on this host); everything else is the real thing.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <thread>

#include "client/display_client.h"
#include "common/unique_fd.h"
#include "schema/frame.h"
#include "tests/integration/local_bridge.h"
#include "tests/support/frame_pipe.h"
#include "tests/unit/schemes/fake_drm_guest.h"

namespace bridge::test {
namespace {

using namespace std::chrono_literals;

// A guest on the host's guest socket: hello with one display export, then every request is
// answered by the fake device until the test hangs up.
class DisplayGuest {
 public:
  explicit DisplayGuest(const std::string& socket_path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path.c_str());
    fd_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    // INVARIANT: addr is a fully initialized sockaddr_un.
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    pipe_ = std::make_unique<FramePipe>(fd_.get());
    capnp::MallocMessageBuilder message;
    auto hello = message.initRoot<wire::Message>().initHello();
    hello.setMajor(wire::PROTOCOL_MAJOR);
    hello.setRole(wire::Hello::Role::GUEST);
    hello.setName("displayvm");
    auto exp = hello.initExports(1)[0];
    exp.setName("display.fake");
    exp.setKind(wire::Export::Kind::DISPLAY);
    exp.setEngine("drm");
    send(message);
    connected_ = read().has_value();  // the host's hello
    thread_ = std::thread([this] { answer(); });
  }
  ~DisplayGuest() { hang_up(); }
  bool connected() const { return connected_; }
  void hang_up() {
    if (!thread_.joinable()) return;
    ::shutdown(fd_.get(), SHUT_RDWR);
    thread_.join();
  }
  void send(capnp::MessageBuilder& message) { (void)pipe_->send(message); }

 private:
  std::optional<frame::Frame> read() { return pipe_->read(); }

  void answer() {
    while (auto f = read()) {
      if (!f->message().isRequest()) continue;
      auto request = std::make_unique<capnp::MallocMessageBuilder>();
      request->setRoot(f->message());
      auto reply = drm_.call(std::move(request));
      capnp::MallocMessageBuilder out;
      out.setRoot(reply->message());
      send(out);
    }
  }

  UniqueFd fd_;
  bool connected_ = false;
  FakeDrmGuest drm_{false};  // no region: the region handshake is not part of this test
  std::unique_ptr<FramePipe> pipe_;
  std::thread thread_;
};

class DisplaySchemeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bridge_.start_host({"--display-dir", display_dir()});
    ASSERT_TRUE(wait_until(
        [&] {
          struct stat st {};
          return ::stat(bridge_.control_socket().c_str(), &st) == 0;
        },
        10s));
  }
  std::string display_dir() const { return (bridge_.dir() / "display").string(); }
  std::string socket() const { return display_dir() + "/display.fake.sock"; }
  bool socket_exists() const {
    struct stat st {};
    return ::stat(socket().c_str(), &st) == 0;
  }

  LocalBridge bridge_;
};

TEST_F(DisplaySchemeTest, ADisplayExportGetsASocketAndServesClients) {
  DisplayGuest guest(bridge_.guest_socket());
  ASSERT_TRUE(guest.connected());
  ASSERT_TRUE(wait_until([&] { return socket_exists(); }, 10s)) << read_file(bridge_.host_log());
  struct stat st {};
  ASSERT_EQ(::stat(socket().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);

  auto client = display::Client::connect(socket());
  ASSERT_TRUE(client.ok()) << client.error().context;
  auto info = (*client)->info();
  ASSERT_TRUE(info.ok()) << info.error().context;
  EXPECT_EQ(info->driver, "fake-drm");
  ASSERT_EQ(info->connectors.size(), 1u);
  EXPECT_EQ(info->connectors[0].modes.size(), 2u);

  // bridgectl asks the same socket, without taking the display.
  std::string ctl = binary("tools/bridgectl/bridgectl") + " display ";
  auto list = run_command(ctl + "list --display-dir " + display_dir());
  EXPECT_EQ(list.status, 0) << list.output;
  EXPECT_NE(list.output.find("display.fake"), std::string::npos) << list.output;
  auto shown = run_command(ctl + "info display.fake: --display-dir " + display_dir());
  EXPECT_EQ(shown.status, 0) << shown.output;
  EXPECT_NE(shown.output.find("driver fake-drm"), std::string::npos) << shown.output;
  EXPECT_NE(shown.output.find("1024x768"), std::string::npos) << shown.output;
  auto absent = run_command(ctl + "info display.none --display-dir " + display_dir());
  EXPECT_EQ(absent.status, 1);
  EXPECT_NE(absent.output.find("is bridge-host running"), std::string::npos) << absent.output;

  // The guest's hotplug event crosses the real link and reaches the client.
  capnp::MallocMessageBuilder event;
  auto e = event.initRoot<wire::Message>().initEvent();
  e.setExport(0);
  e.setHotplug(FakeDrmGuest::kConnector);
  guest.send(event);
  std::optional<display::Event> got;
  ASSERT_TRUE(wait_until(
      [&] {
        if (!(*client)->info().ok()) return false;
        got = (*client)->next_event();
        return got.has_value();
      },
      5s));
  EXPECT_EQ(got->hotplug_connector, FakeDrmGuest::kConnector);

  // This guest announced no shared region, so there is nowhere to put framebuffers.
  auto attached = (*client)->attach();
  ASSERT_EQ(attached.code(), ENODEV);
  EXPECT_NE(attached.error().context.find("start the VM with an ivshmem region"),
            std::string::npos);
}

TEST_F(DisplaySchemeTest, TheDisplayGoesOfflineWithItsGuestAndReturnsWithIt) {
  auto guest = std::make_unique<DisplayGuest>(bridge_.guest_socket());
  ASSERT_TRUE(wait_until([&] { return socket_exists(); }, 10s));
  auto client = display::Client::connect(socket());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->info().ok());
  guest.reset();
  ASSERT_TRUE(wait_until([&] { return (*client)->info().code() == ENODEV; }, 10s));
  auto again = std::make_unique<DisplayGuest>(bridge_.guest_socket());
  ASSERT_TRUE(again->connected());
  ASSERT_TRUE(wait_until([&] { return (*client)->info().ok(); }, 10s));
}

TEST_F(DisplaySchemeTest, TheHostStopsCleanlyWithDisplayClientsConnected) {
  DisplayGuest guest(bridge_.guest_socket());
  ASSERT_TRUE(wait_until([&] { return socket_exists(); }, 10s));
  auto client = display::Client::connect(socket());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->info().ok());
  bridge_.stop_host();
  EXPECT_FALSE(socket_exists());
  EXPECT_NE(read_file(bridge_.host_log()).find("stopped"), std::string::npos);
}

}  // namespace
}  // namespace bridge::test
