#include "vm/qmp_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include "common/unique_fd.h"

namespace bridge::vm {
namespace {

using namespace std::chrono_literals;

// A fake QMP server: a unix socket in a temporary directory and a thread that accepts one
// client and runs `script` on it. Scripts speak real QMP lines.
class FakeQmp {
 public:
  using Script = std::function<void(FakeQmp&)>;

  explicit FakeQmp(Script script) {
    char tmpl[] = "/tmp/qmp-test.XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    dir_ = tmpl;
    path_ = dir_ + "/qmp.sock";
    listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    // INVARIANT: addr is a sockaddr_un; the cast is the sockets API.
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_.get(), 1) != 0)
      throw std::runtime_error("bind/listen");
    thread_ = std::thread([this, script = std::move(script)] {
      conn_.reset(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      conn_fd_ = conn_.get();
      if (conn_) script(*this);
    });
  }
  ~FakeQmp() {
    // Unblocks a script stuck reading from a client that gave up.
    if (conn_fd_ >= 0) ::shutdown(conn_fd_, SHUT_RDWR);
    ::shutdown(listener_.get(), SHUT_RDWR);
    thread_.join();
    std::filesystem::remove_all(dir_);
  }

  const std::string& path() const { return path_; }
  // The client sees end of stream (what a QEMU that exits looks like).
  void hangup() { ::shutdown(conn_.get(), SHUT_RDWR); }

  void send(const std::string& text) {
    (void)!::send(conn_.get(), text.data(), text.size(), MSG_NOSIGNAL);
  }
  void line(const std::string& json) { send(json + "\r\n"); }
  // The next line the client sent, parsed; null on EOF.
  json::Value read() {
    std::string text;
    char c;
    while (::recv(conn_.get(), &c, 1, 0) == 1 && c != '\n') text += c;
    auto v = json::parse(text);
    return v ? *v : json::Value();
  }
  // Reads one command, checks its name, returns its id (for the answer).
  std::string expect(const std::string& command) {
    json::Value msg = read();
    commands.push_back(msg.string_at("execute"));
    if (msg.string_at("execute") != command) return "-1";
    last_arguments = msg.find("arguments") ? *msg.find("arguments") : json::Value();
    return json::emit(*msg.find("id"));
  }
  void greet_and_negotiate() {
    line(
        R"({"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}}, "capabilities": ["oob"]}})");
    line(R"({"return": {}, "id": )" + expect("qmp_capabilities") + "}");
  }

  std::vector<std::string> commands;  // written by the server thread; read after join
  json::Value last_arguments;

 private:
  std::string dir_, path_;
  UniqueFd listener_, conn_;      // conn_: the server thread's
  std::atomic<int> conn_fd_{-1};  // conn_'s fd, for the destructor to unblock the thread
  std::thread thread_;
};

TEST(QmpClient, NegotiatesAndQueriesStatusAcrossAsyncEvents) {
  FakeQmp server([](FakeQmp& s) {
    s.greet_and_negotiate();
    std::string id = s.expect("query-status");
    // Events before the answer, and the answer split across two writes.
    s.line(R"({"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESUME"})");
    s.line(R"({"event": "NIC_RX_FILTER_CHANGED", "data": {"path": "/x"}})");
    s.send(R"({"return": {"status": "running", "sin)");
    std::this_thread::sleep_for(50ms);
    s.send(R"(gle": false, "running": true}, "id": )" + id + "}\r\n");
    s.line(R"({"return": {}, "id": )" + s.expect("stop") + "}");
    s.line(R"({"event": "STOP"})");
    s.line(R"({"return": {"status": "paused", "running": false}, "id": )" +
           s.expect("query-status") + "}");
  });
  auto client = QmpClient::connect(server.path(), 2s);
  ASSERT_TRUE(client) << client.error().context;
  auto status = client->query_status();
  ASSERT_TRUE(status) << status.error().context;
  EXPECT_EQ(*status, "running");
  EXPECT_TRUE(client->stop());
  status = client->query_status();
  ASSERT_TRUE(status) << status.error().context;
  EXPECT_EQ(*status, "paused");
}

TEST(QmpClient, ErrorRepliesCarryClassAndDesc) {
  FakeQmp server([](FakeQmp& s) {
    s.greet_and_negotiate();
    std::string id = s.expect("screendump");
    s.line(R"({"id": )" + id +
           R"(, "error": {"class": "GenericError", "desc": "no surface for device 'vga0'"}})");
  });
  auto client = QmpClient::connect(server.path(), 2s);
  ASSERT_TRUE(client) << client.error().context;
  auto st = client->screendump("/tmp/shot.ppm", "vga0");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.code(), EIO);
  EXPECT_EQ(st.error().context, "qmp screendump: GenericError: no surface for device 'vga0'");
  EXPECT_EQ(server.last_arguments,
            json::Value(json::Object{{"filename", "/tmp/shot.ppm"}, {"device", "vga0"}}));
}

TEST(QmpClient, ScreendumpWithoutDeviceSendsOnlyTheFile) {
  FakeQmp server([](FakeQmp& s) {
    s.greet_and_negotiate();
    s.line(R"({"return": {}, "id": )" + s.expect("screendump") + "}");
  });
  auto client = QmpClient::connect(server.path(), 2s);
  ASSERT_TRUE(client) << client.error().context;
  EXPECT_TRUE(client->screendump("/tmp/a.ppm"));
  EXPECT_EQ(server.last_arguments, json::Value(json::Object{{"filename", "/tmp/a.ppm"}}));
}

TEST(QmpClient, ServerClosingMidReplyIsAnError) {
  FakeQmp server([](FakeQmp& s) {
    s.greet_and_negotiate();
    s.expect("query-status");
    s.send(R"({"return": {"stat)");
    s.hangup();
  });
  auto client = QmpClient::connect(server.path(), 2s);
  ASSERT_TRUE(client) << client.error().context;
  auto status = client->query_status();
  ASSERT_FALSE(status);
  EXPECT_EQ(status.code(), ECONNRESET);
  EXPECT_NE(status.error().context.find("in the middle of a message"), std::string::npos)
      << status.error().context;
}

TEST(QmpClient, SilentServerTimesOut) {
  FakeQmp server([](FakeQmp& s) {
    s.greet_and_negotiate();
    s.expect("query-status");
    s.read();  // never answers; returns when the test tears the socket down
  });
  auto client = QmpClient::connect(server.path(), 2s);
  ASSERT_TRUE(client) << client.error().context;
  client->set_timeout(300ms);
  auto t0 = std::chrono::steady_clock::now();
  auto status = client->query_status();
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(status);
  EXPECT_EQ(status.code(), ETIMEDOUT);
  EXPECT_NE(status.error().context.find("qmp query-status"), std::string::npos);
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
}

TEST(QmpClient, NoGreetingTimesOutAtConnect) {
  FakeQmp server([](FakeQmp& s) { s.read(); });
  auto client = QmpClient::connect(server.path(), 300ms);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.code(), ETIMEDOUT);
  EXPECT_NE(client.error().context.find("QMP greeting"), std::string::npos);
}

TEST(QmpClient, QuitAcceptsAClosedSocket) {
  FakeQmp server([](FakeQmp& s) {
    s.greet_and_negotiate();
    s.expect("quit");  // QEMU may exit without answering
    s.hangup();
  });
  auto client = QmpClient::connect(server.path(), 2s);
  ASSERT_TRUE(client) << client.error().context;
  EXPECT_TRUE(client->quit());
}

TEST(QmpClient, StaleAnswersAndGarbageAreHandled) {
  FakeQmp server([](FakeQmp& s) {
    s.greet_and_negotiate();
    std::string id = s.expect("cont");
    s.line(R"({"return": {"status": "old"}, "id": 9999})");  // an earlier, timed-out command
    s.line(R"({"return": {}, "id": )" + id + "}");
    s.expect("system_reset");
    s.line(R"({"return": {}, "id": )");  // malformed JSON
  });
  auto client = QmpClient::connect(server.path(), 2s);
  ASSERT_TRUE(client) << client.error().context;
  EXPECT_TRUE(client->cont());
  auto st = client->system_reset();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.code(), EPROTO);
  EXPECT_NE(st.error().context.find("malformed JSON"), std::string::npos);
}

TEST(QmpClient, NoServerIsAClearError) {
  auto client = QmpClient::connect("/tmp/definitely-not-a-qmp-socket.sock", 200ms);
  ASSERT_FALSE(client);
  EXPECT_NE(client.error().context.find("/tmp/definitely-not-a-qmp-socket.sock"),
            std::string::npos);
}

}  // namespace
}  // namespace bridge::vm
