// The host treats the guest as hostile: malformed frames, absurd sizes, wrong versions, guests
// that never answer or answer what was never asked, and guests that claim names they must not
// have. None of it may crash or hang bridge-host, or disturb a well-behaved guest beside it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <future>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "schema/frame.h"
#include "tests/integration/local_bridge.h"
#include "tests/support/frame_pipe.h"

namespace bridge::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

UniqueFd dial(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  // INVARIANT: sockaddr_un is the address type of AF_UNIX.
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return UniqueFd();
  return fd;
}

void send_bytes(int fd, const void* data, std::size_t size) {
  ASSERT_EQ(::send(fd, data, size, MSG_NOSIGNAL), static_cast<ssize_t>(size));
}

void send_message(int fd, capnp::MessageBuilder& message) {
  auto words = frame::encode(message);
  send_bytes(fd, words.asBytes().begin(), words.asBytes().size());
}

// True when the peer closed the connection within `timeout` (reads drain whatever it sent).
bool closed_by_peer(int fd, std::chrono::milliseconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[4096];
  while (true) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
  }
}

bool listed(const std::string& dir, const std::string& name) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().filename() == name) return true;
  }
  return false;
}

void guest_hello(capnp::MessageBuilder& message, uint16_t major, const std::string& export_name) {
  auto hello = message.initRoot<wire::Message>().initHello();
  hello.setMajor(major);
  hello.setRole(wire::Hello::Role::GUEST);
  hello.setName("hostile");
  auto exp = hello.initExports(1)[0];
  exp.setName(export_name);
  exp.setEngine("ext2fs");
}

class HostilePeerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(bridge_.dir() / "tree/home");
    std::ofstream(bridge_.dir() / "tree/home/file") << "fine\n";
    bridge_.make_image(bridge_.dir() / "tree", 16);
    bridge_.start_host({"--call-timeout", "2"});
    bridge_.start_guest();
    ASSERT_TRUE(bridge_.wait_for("ext4/home/file"));
  }

  // The daemon is alive and the honest guest's scheme still works.
  void expect_host_healthy() {
    EXPECT_TRUE(bridge_.host()->running()) << read_file(bridge_.host_log());
    EXPECT_EQ(read_file(bridge_.at("ext4/home/file")), "fine\n");
  }

  LocalBridge bridge_;
};

TEST_F(HostilePeerTest, GarbageBytesCloseOnlyThatConnection) {
  auto fd = dial(bridge_.guest_socket());
  ASSERT_TRUE(fd);
  std::string garbage(4096, '\xA5');
  send_bytes(fd.get(), garbage.data(), garbage.size());
  EXPECT_TRUE(closed_by_peer(fd.get(), 10s));
  expect_host_healthy();
}

TEST_F(HostilePeerTest, AbsurdSegmentCountIsRefusedBeforeAllocation) {
  auto fd = dial(bridge_.guest_socket());
  ASSERT_TRUE(fd);
  const uint32_t header[2] = {0xFFFFFFFFu, 1};
  send_bytes(fd.get(), header, sizeof header);
  EXPECT_TRUE(closed_by_peer(fd.get(), 10s));
  expect_host_healthy();
}

TEST_F(HostilePeerTest, HugeFrameIsRefusedWithoutReadingIt) {
  auto fd = dial(bridge_.guest_socket());
  ASSERT_TRUE(fd);
  const uint32_t header[2] = {0, 0x7FFFFFFFu};  // one segment of 16 GiB
  send_bytes(fd.get(), header, sizeof header);
  EXPECT_TRUE(closed_by_peer(fd.get(), 10s));
  expect_host_healthy();
}

TEST_F(HostilePeerTest, WrongMajorVersionIsRefusedWithAReason) {
  auto fd = dial(bridge_.guest_socket());
  ASSERT_TRUE(fd);
  capnp::MallocMessageBuilder hello;
  guest_hello(hello, 99, "future");
  send_message(fd.get(), hello);
  EXPECT_TRUE(closed_by_peer(fd.get(), 10s));
  EXPECT_TRUE(wait_until(
      [&] {
        return read_file(bridge_.host_log()).find("upgrade the older side") != std::string::npos;
      },
      5s));
  EXPECT_FALSE(fs::exists(bridge_.at("future")));
  expect_host_healthy();
}

TEST_F(HostilePeerTest, GuestThatNeverAnswersTimesOut) {
  auto fd = dial(bridge_.guest_socket());
  ASSERT_TRUE(fd);
  capnp::MallocMessageBuilder hello;
  guest_hello(hello, wire::PROTOCOL_MAJOR, "silent");
  send_message(fd.get(), hello);
  // Listed in the root (which the host answers itself) once the hello is in.
  ASSERT_TRUE(wait_until([&] { return listed(bridge_.mount(), "silent"); }, 10s));
  auto stat_result = std::async(std::launch::async, [&] {
    struct stat st;
    return ::stat(bridge_.at("silent/anything").c_str(), &st) == 0 ? 0 : errno;
  });
  ASSERT_EQ(stat_result.wait_for(30s), std::future_status::ready) << "stat hung";
  EXPECT_EQ(stat_result.get(), ETIMEDOUT);
  expect_host_healthy();
}

TEST_F(HostilePeerTest, InventedResponsesAreIgnored) {
  auto fd = dial(bridge_.guest_socket());
  ASSERT_TRUE(fd);
  capnp::MallocMessageBuilder hello;
  guest_hello(hello, wire::PROTOCOL_MAJOR, "liar");
  send_message(fd.get(), hello);
  for (uint64_t id : {0ull, 1ull, 12345ull, ~0ull}) {
    capnp::MallocMessageBuilder response;
    auto r = response.initRoot<wire::Message>().initResponse();
    r.setId(id);
    r.getResult().setDone();
    send_message(fd.get(), response);
  }
  std::this_thread::sleep_for(500ms);
  expect_host_healthy();
}

TEST_F(HostilePeerTest, StolenOrInvalidSchemeNamesAreRefused) {
  for (std::string name : {"ext4", "../evil", "UPPER", "a/b", ""}) {
    auto fd = dial(bridge_.guest_socket());
    ASSERT_TRUE(fd);
    capnp::MallocMessageBuilder hello;
    guest_hello(hello, wire::PROTOCOL_MAJOR, name);
    send_message(fd.get(), hello);
    std::this_thread::sleep_for(300ms);
  }
  auto status = bridge_.bridgectl("status");
  EXPECT_NE(status.output.find("testvm"), std::string::npos) << status.output;
  EXPECT_EQ(status.output.find("hostile"), std::string::npos) << status.output;
  expect_host_healthy();
}

// A scripted hostile guest on its own thread: a file "file" that it answers every read of with a
// region range just past the one the host set aside (another request's bytes, were it honest).
// The token of the region the host's hello offers (0: none). The host speaks first on a new
// connection, so this reads exactly its hello frame.
uint64_t host_region_token(int fd) {
  auto hello = test::FramePipe(fd).read();
  return hello ? hello->message().getHello().getRegion().getToken() : 0;
}

class RegionLiar {
 public:
  explicit RegionLiar(UniqueFd fd) : fd_(std::move(fd)), thread_([this] { serve(); }) {}
  ~RegionLiar() {
    ::shutdown(fd_.get(), SHUT_RDWR);
    thread_.join();
  }
  std::atomic<int> lies{0};

 private:
  void serve() {
    test::FramePipe pipe(fd_.get());
    while (auto f = pipe.read()) answer(*f);
  }

  void answer(frame::Frame& in) {
    auto msg = in.message();
    if (!msg.isRequest()) return;
    auto req = msg.getRequest();
    capnp::MallocMessageBuilder out;
    auto resp = out.initRoot<wire::Message>().initResponse();
    resp.setId(req.getId());
    auto op = req.getOp();
    auto attr = [](wire::Attr::Builder a, bool dir = false) {
      a.setIno(dir ? 1 : 2);
      a.setMode(dir ? 040755 : 0100644);
      a.setNlink(1);
      a.setSize(4096);
    };
    if (op.isGetattr()) {  // the export root is a directory, everything else "file"
      auto g = op.getGetattr();
      attr(resp.getResult().initAttr(), g.isPath() && g.getPath().size() == 0);
    } else if (op.isOpen()) {
      auto opened = resp.getResult().initOpened();
      opened.initHandle().setValue(1);
      attr(opened.initAttr());
    } else if (op.isRead()) {
      auto into = op.getRead().getInto();
      auto ref = resp.getResult().initData().initRegion();
      ref.setOffset(into.getOffset() + into.getLength());
      ref.setLength(into.getLength() ? 100 : 0);
      if (into.getLength()) ++lies;
    } else if (op.isClose() || op.isFsync()) {
      resp.getResult().setDone();
    } else {
      resp.getResult().setError(wire::Errno::NOSYS);
    }
    send_message(fd_.get(), out);
  }

  UniqueFd fd_;
  std::thread thread_;
};

// Equal sizes are not enough: a region whose first bytes do not hold the host's token is other
// memory (e.g. QEMU started on a replaced backing file), and the link stays inline.
TEST_F(HostilePeerTest, ARegionWithoutTheHostsTokenIsNotUsed) {
  auto fd = dial(bridge_.guest_socket());
  ASSERT_TRUE(fd);
  const uint64_t token = host_region_token(fd.get());
  ASSERT_NE(token, 0u) << "the host's hello offered no region token";
  capnp::MallocMessageBuilder hello;
  guest_hello(hello, wire::PROTOCOL_MAJOR, "otherregion");
  auto region = hello.getRoot<wire::Message>().getHello().initRegion();
  region.setSize(uint64_t{64} << 20);
  region.setToken(token ^ 1);
  send_message(fd.get(), hello);
  EXPECT_TRUE(wait_until(
      [&] {
        return read_file(bridge_.host_log()).find("is not this host's memory") != std::string::npos;
      },
      10s))
      << read_file(bridge_.host_log());
  EXPECT_EQ(read_file(bridge_.host_log()).find("region: 64 MiB shared with guest 'hostile'"),
            std::string::npos);
  expect_host_healthy();
}

TEST_F(HostilePeerTest, ReadAnsweredOutsideTheLeaseIsEioAndTheHostLivesOn) {
  auto fd = dial(bridge_.guest_socket());
  ASSERT_TRUE(fd);
  capnp::MallocMessageBuilder hello;
  guest_hello(hello, wire::PROTOCOL_MAJOR, "regionliar");
  // Claims to have mapped the 64 MiB region the host offers by default (echoing the token from
  // the host's hello instead of reading it from the memfd), so the link uses it.
  auto region = hello.getRoot<wire::Message>().getHello().initRegion();
  region.setSize(uint64_t{64} << 20);
  region.setToken(host_region_token(fd.get()));
  send_message(fd.get(), hello);
  RegionLiar liar(std::move(fd));
  ASSERT_TRUE(wait_until([&] { return listed(bridge_.mount(), "regionliar"); }, 10s));
  EXPECT_TRUE(wait_until(
      [&] {
        return read_file(bridge_.host_log()).find("region: 64 MiB shared with guest 'hostile'") !=
               std::string::npos;
      },
      5s))
      << read_file(bridge_.host_log());
  UniqueFd file(::open(bridge_.at("regionliar/file").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(file) << std::strerror(errno);
  char buf[4096];
  errno = 0;
  EXPECT_EQ(::read(file.get(), buf, sizeof buf), -1);
  EXPECT_EQ(errno, EIO);
  EXPECT_GE(liar.lies.load(), 1);
  file.reset();
  expect_host_healthy();  // the honest guest's reads (through its own region) still work
}

}  // namespace
}  // namespace bridge::test
