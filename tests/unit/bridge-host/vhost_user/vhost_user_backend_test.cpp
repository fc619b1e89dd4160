// Raw syscalls here (mkdtemp, socket, sendmsg, recv, eventfd, read/write on eventfds) play
// QEMU's side; INVARIANT for all of them: every fd is owned by a UniqueFd or an Asio socket,
// every buffer passed is a local of the stated size.
//
// VhostUserBackend over a real unix socket, driven by a SIMULATED front-end (this test plays
// QEMU: vhost-user messages with SCM_RIGHTS, memfd guest RAM from sim_guest.h, eventfds) and a
// SIMULATED guest driver (SimQueue). The real QEMU path is tests/vm/vm_vhost_user.sh.
#include "bridge-host/vhost-user/vhost_user_backend.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "bridge-host/vhost-user/le.h"
#include "sim_guest.h"

namespace bridge::vhost_user {
namespace {

using test::SimQueue;
using test::SimRam;

// Guest bytes as text. INVARIANT: char and uint8_t are both byte types, so this
// reinterpret_cast only changes how the same bytes are read.
std::string text_at(const uint8_t* p, std::size_t n) {
  return std::string(reinterpret_cast<const char*>(p), n);
}

constexpr uint64_t kCid = 7;
constexpr uint32_t kPort = 5151;

std::vector<uint8_t> message(Request r, std::vector<uint8_t> payload = {}) {
  std::vector<uint8_t> out(kHeaderSize + payload.size());
  store_le<uint32_t>(out.data(), static_cast<uint32_t>(r));
  store_le<uint32_t>(out.data() + 4, kVersion);
  store_le<uint32_t>(out.data() + 8, static_cast<uint32_t>(payload.size()));
  std::copy(payload.begin(), payload.end(), out.begin() + kHeaderSize);
  return out;
}
std::vector<uint8_t> u64(uint64_t v) {
  std::vector<uint8_t> out(8);
  store_le<uint64_t>(out.data(), v);
  return out;
}
std::vector<uint8_t> state(uint32_t index, uint32_t num) {
  std::vector<uint8_t> out(8);
  store_le<uint32_t>(out.data(), index);
  store_le<uint32_t>(out.data() + 4, num);
  return out;
}

class BackendTest : public ::testing::Test {
 protected:
  asio::io_context io;
  std::string dir = [] {
    char tmpl[] = "/tmp/vu-backend-test.XXXXXX";
    return std::string(::mkdtemp(tmpl));
  }();
  std::string path = dir + "/vu.sock";
  std::vector<Socket> links;
  std::shared_ptr<VhostUserBackend> backend;

  SimRam ram{1 << 20};
  SimQueue rx{ram, 16};
  SimQueue tx{ram, 16};
  UniqueFd kick_rx{::eventfd(0, EFD_CLOEXEC)}, kick_tx{::eventfd(0, EFD_CLOEXEC)};
  UniqueFd call_rx{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  UniqueFd call_tx{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  std::vector<uint64_t> rx_hdrs;

  void SetUp() override {
    BackendOptions o;
    o.path = path;
    o.guest_cid = kCid;
    o.port = kPort;
    backend = std::make_shared<VhostUserBackend>(
        io, o, [this](Socket s, std::string) { links.push_back(std::move(s)); });
    ASSERT_TRUE(backend->start().ok());
  }
  void TearDown() override {
    backend->stop();
    io.run_for(std::chrono::milliseconds(20));
    std::filesystem::remove_all(dir);
  }

  void spin() { io.run_for(std::chrono::milliseconds(30)); }

  UniqueFd connect_frontend() {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    // INVARIANT: sockaddr_un is the documented argument type of connect for AF_UNIX.
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    spin();
    return fd;
  }
  // Sends one message with optional fds (SCM_RIGHTS), as QEMU does.
  static void send(int fd, const std::vector<uint8_t>& bytes, std::vector<int> fds = {}) {
    iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)]{};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (!fds.empty()) {
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    ASSERT_EQ(::sendmsg(fd, &msg, 0), static_cast<ssize_t>(bytes.size()));
  }
  // The reply's payload (after checking its header), running the backend meanwhile.
  std::vector<uint8_t> reply(int fd, Request r) {
    std::vector<uint8_t> got;
    for (int i = 0; i < 100; ++i) {
      spin();
      uint8_t buf[512];
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) got.insert(got.end(), buf, buf + n);
      if (got.size() >= kHeaderSize &&
          got.size() >= kHeaderSize + load_le<uint32_t>(got.data() + 8)) {
        break;
      }
    }
    EXPECT_GE(got.size(), kHeaderSize);
    if (got.size() < kHeaderSize) return {};
    EXPECT_EQ(load_le<uint32_t>(got.data()), static_cast<uint32_t>(r));
    EXPECT_EQ(load_le<uint32_t>(got.data() + 4), kVersion | kFlagReply);
    return std::vector<uint8_t>(got.begin() + kHeaderSize, got.end());
  }

  // What QEMU 7.2 does when the guest driver starts the device.
  void start_device(int fe) {
    send(fe, message(Request::set_features, u64(kFeatureVersion1 | kFeatureProtocolFeatures)));
    std::vector<uint8_t> table(8 + 32);
    store_le<uint32_t>(table.data(), 1);
    store_le<uint64_t>(table.data() + 8, SimRam::kGpaBase);
    store_le<uint64_t>(table.data() + 16, ram.size());
    store_le<uint64_t>(table.data() + 24, SimRam::kUvaBase);
    store_le<uint64_t>(table.data() + 32, 0);
    UniqueFd mem = ram.dup_fd();
    send(fe, message(Request::set_mem_table, table), {mem.get()});
    const std::pair<uint32_t, SimQueue*> queues[] = {{0, &rx}, {1, &tx}};
    for (auto [i, q] : queues) {
      send(fe, message(Request::set_vring_num, state(i, q->num())));
      send(fe, message(Request::set_vring_base, state(i, 0)));
      std::vector<uint8_t> addr(40);
      store_le<uint32_t>(addr.data(), i);
      store_le<uint64_t>(addr.data() + 8, ram.uva(q->desc_gpa()));
      store_le<uint64_t>(addr.data() + 16, ram.uva(q->used_gpa()));
      store_le<uint64_t>(addr.data() + 24, ram.uva(q->avail_gpa()));
      send(fe, message(Request::set_vring_addr, addr));
      send(fe, message(Request::set_vring_kick, u64(i)), {i == 0 ? kick_rx.get() : kick_tx.get()});
      send(fe, message(Request::set_vring_call, u64(i)), {i == 0 ? call_rx.get() : call_tx.get()});
      send(fe, message(Request::set_vring_enable, state(i, 1)));
    }
    spin();
  }
  static void kick(const UniqueFd& fd) {
    const uint64_t one = 1;
    ASSERT_EQ(::write(fd.get(), &one, sizeof one), 8);
  }
  static bool called(const UniqueFd& fd) {
    uint64_t v = 0;
    return ::read(fd.get(), &v, sizeof v) == 8 && v > 0;
  }
  void post_rx() {
    const uint64_t hdr = ram.alloc(kVsockHeaderSize), data = ram.alloc(4096);
    rx.add_chain({{hdr, kVsockHeaderSize, true}, {data, 4096, true}});
    rx_hdrs.push_back(hdr);
  }
  void guest_send(VsockOp op, const std::string& payload = {}) {
    VsockHeader h;
    h.src_cid = kCid;
    h.dst_cid = kHostCid;
    h.src_port = 999;
    h.dst_port = kPort;
    h.len = static_cast<uint32_t>(payload.size());
    h.type = static_cast<uint16_t>(VsockType::stream);
    h.op = static_cast<uint16_t>(op);
    h.buf_alloc = 64 * 1024;
    const auto raw = serialize_vsock_header(h);
    const uint64_t hg = ram.alloc(raw.size());
    std::memcpy(ram.at(hg), raw.data(), raw.size());
    std::vector<SimQueue::Seg> segs{{hg, static_cast<uint32_t>(raw.size()), false}};
    if (!payload.empty()) {
      const uint64_t pg = ram.alloc(payload.size());
      std::memcpy(ram.at(pg), payload.data(), payload.size());
      segs.push_back({pg, static_cast<uint32_t>(payload.size()), false});
    }
    tx.add_chain(segs);
    kick(kick_tx);
    spin();
  }
  // (op, payload) of every RX packet returned since the last call.
  std::size_t rx_seen = 0;
  std::vector<std::pair<VsockOp, std::string>> rx_packets() {
    std::vector<std::pair<VsockOp, std::string>> out;
    for (auto [id, len] : rx.take_used()) {
      (void)id;
      const uint64_t hdr = rx_hdrs.at(rx_seen++);
      auto h = parse_vsock_header(std::span<const uint8_t>(ram.at(hdr), kVsockHeaderSize));
      EXPECT_TRUE(h.ok());
      EXPECT_EQ(len, kVsockHeaderSize + h->len);
      // The payload descriptor was allocated right after the header one.
      const uint64_t data = hdr + 48;  // 44 rounded up to the allocator's 16-byte alignment
      out.emplace_back(h->operation(), text_at(ram.at(data), h->len));
    }
    return out;
  }
};

TEST_F(BackendTest, AnswersFeatureAndConfigQueries) {
  UniqueFd fe = connect_frontend();
  send(fe.get(), message(Request::get_features));
  const auto features = reply(fe.get(), Request::get_features);
  ASSERT_EQ(features.size(), 8u);
  const uint64_t f = load_le<uint64_t>(features.data());
  EXPECT_TRUE(f & kFeatureVersion1);
  EXPECT_TRUE(f & kFeatureProtocolFeatures);

  send(fe.get(), message(Request::get_protocol_features));
  const auto proto = reply(fe.get(), Request::get_protocol_features);
  ASSERT_EQ(proto.size(), 8u);
  EXPECT_TRUE(load_le<uint64_t>(proto.data()) & kProtocolConfig);

  std::vector<uint8_t> cfg(12 + 8);
  store_le<uint32_t>(cfg.data() + 4, 8);
  send(fe.get(), message(Request::get_config, cfg));
  const auto config = reply(fe.get(), Request::get_config);
  ASSERT_EQ(config.size(), 20u);
  EXPECT_EQ(load_le<uint64_t>(config.data() + 12), kCid);
}

TEST_F(BackendTest, GuestConnectionBecomesASessionStream) {
  UniqueFd fe = connect_frontend();
  start_device(fe.get());
  post_rx();
  post_rx();
  post_rx();
  kick(kick_rx);
  guest_send(VsockOp::request);
  EXPECT_TRUE(called(call_rx));
  auto got = rx_packets();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, VsockOp::response);
  ASSERT_EQ(links.size(), 1u);

  // guest -> session stream
  guest_send(VsockOp::rw, "ping");
  char buf[16] = {};
  ASSERT_EQ(::recv(links[0].native_handle(), buf, sizeof buf, MSG_DONTWAIT), 4);
  EXPECT_EQ(std::string(buf, 4), "ping");

  // session stream -> guest
  ASSERT_EQ(::send(links[0].native_handle(), "pong", 4, 0), 4);
  spin();
  got = rx_packets();
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back().first, VsockOp::rw);
  EXPECT_EQ(got.back().second, "pong");

  // The front-end goes away: the session stream sees EOF.
  fe.reset();
  spin();
  spin();
  EXPECT_EQ(::recv(links[0].native_handle(), buf, sizeof buf, MSG_DONTWAIT), 0);
}

TEST_F(BackendTest, SessionCloseBecomesVsockShutdown) {
  UniqueFd fe = connect_frontend();
  start_device(fe.get());
  post_rx();
  post_rx();
  guest_send(VsockOp::request);
  ASSERT_EQ(links.size(), 1u);
  links[0].close();
  spin();
  auto got = rx_packets();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].first, VsockOp::shutdown);
}

TEST_F(BackendTest, GarbageFromTheFrontEndDropsItButNotTheListener) {
  {
    UniqueFd fe = connect_frontend();
    std::vector<uint8_t> bad = message(Request::get_features);
    store_le<uint32_t>(bad.data() + 4, 2);  // version 2
    send(fe.get(), bad);
    spin();
    char c;
    EXPECT_EQ(::recv(fe.get(), &c, 1, MSG_DONTWAIT), 0);  // closed on us
  }
  {
    // A kick "eventfd" that is a directory: reading it fails; only that watcher ends.
    UniqueFd fe = connect_frontend();
    UniqueFd file(::open(path.substr(0, path.rfind('/')).c_str(), O_RDONLY | O_DIRECTORY));
    send(fe.get(), message(Request::set_vring_kick, u64(1)), {file.get()});
    spin();
  }
  UniqueFd fe = connect_frontend();
  send(fe.get(), message(Request::get_features));
  EXPECT_EQ(reply(fe.get(), Request::get_features).size(), 8u);
}

TEST_F(BackendTest, SecondListenerOnALiveSocketIsRefused) {
  BackendOptions o;
  o.path = path;
  auto other = std::make_shared<VhostUserBackend>(io, o, [](Socket, std::string) {});
  auto started = other->start();
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.code(), EADDRINUSE);
}

}  // namespace
}  // namespace bridge::vhost_user
