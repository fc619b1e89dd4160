#include "vm/qmp_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

namespace bridge::vm {

namespace {

// QMP answers for the commands used here are tiny; a line this long means a broken peer.
constexpr std::size_t kMaxLine = 1 << 20;

Error sys_error(const std::string& what) {
  int err = errno;
  return make_error(err, what + ": " + std::strerror(err));
}

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Waits for `events` on fd until the deadline: ETIMEDOUT names `what`.
Status wait_fd(int fd, short events, std::chrono::steady_clock::time_point deadline,
               const std::string& what) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n > 0) return {};
    if (n == 0) return make_error(ETIMEDOUT, what + ": no answer in time");
    if (errno != EINTR) return sys_error(what + ": poll");
  }
}

}  // namespace

Result<QmpClient> QmpClient::connect(const std::string& socket_path, Duration timeout) {
  const std::string where = "QMP socket " + socket_path;
  sockaddr_un addr{};
  if (socket_path.size() >= sizeof addr.sun_path)
    return make_error(ENAMETOOLONG, where + ": path too long for a unix socket");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return sys_error(where + ": socket");
  // INVARIANT: addr is a fully initialised sockaddr_un; the cast is the sockets API.
  // A unix connect completes at once or fails (EAGAIN: backlog full, QEMU is not serving it).
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return sys_error(where + ": connect");

  QmpClient client(std::move(fd), socket_path, timeout);
  auto deadline = Clock::now() + timeout;
  auto greeting = client.read_message(deadline, "QMP greeting");
  if (!greeting) return greeting.error();
  if (!greeting->find("QMP"))
    return make_error(EPROTO, where + ": the first message is not a QMP greeting");
  if (auto r = client.execute("qmp_capabilities"); !r) return r.error();
  return client;
}

Status QmpClient::send_line(const std::string& line, Clock::time_point deadline,
                            const std::string& what) {
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::send(fd_.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n > 0) {
      rest.remove_prefix(static_cast<std::size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (auto st = wait_fd(fd_.get(), POLLOUT, deadline, what); !st) return st;
    } else if (errno != EINTR) {
      return sys_error(what + ": send to " + where_);
    }
  }
  return {};
}

Result<json::Value> QmpClient::read_message(Clock::time_point deadline, const std::string& what) {
  for (;;) {
    std::size_t eol = buffer_.find('\n');
    if (eol != std::string::npos) {
      std::string line = buffer_.substr(0, eol);
      buffer_.erase(0, eol + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      auto msg = json::parse(line);
      if (!msg) return make_error(EPROTO, what + ": " + msg.error().context);
      if (!msg->is_object()) return make_error(EPROTO, what + ": a message that is not an object");
      return msg;
    }
    if (buffer_.size() > kMaxLine)
      return make_error(EPROTO, what + ": a message longer than " + std::to_string(kMaxLine));
    if (auto st = wait_fd(fd_.get(), POLLIN, deadline, what + " from " + where_); !st)
      return st.error();
    char chunk[4096];
    ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n == 0) {
      return make_error(ECONNRESET, what + ": QEMU closed " + where_ +
                                        (buffer_.empty() ? "" : " in the middle of a message"));
    }
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      return sys_error(what + ": recv from " + where_);
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

Result<json::Value> QmpClient::execute(const std::string& command, const json::Value& arguments) {
  const std::string what = "qmp " + command;
  const long long id = next_id_++;
  json::Object request{{"execute", command}, {"id", static_cast<std::int64_t>(id)}};
  if (!arguments.is_null()) request.emplace("arguments", arguments);
  auto deadline = Clock::now() + timeout_;
  if (auto st = send_line(json::emit(request) + "\n", deadline, what); !st) return st.error();
  for (;;) {
    auto msg = read_message(deadline, what);
    if (!msg) return msg;
    if (msg->find("event")) continue;  // asynchronous; nobody here waits for one
    const json::Value* got_id = msg->find("id");
    // An answer to an earlier command that timed out: not ours.
    if (got_id && !(got_id->is_number() && got_id->as_number() == static_cast<double>(id)))
      continue;
    if (const json::Value* ret = msg->find("return")) return *ret;
    if (const json::Value* err = msg->find("error")) {
      return make_error(EIO, what + ": " + err->string_at("class") + ": " + err->string_at("desc"));
    }
    return make_error(EPROTO, what + ": an answer with neither \"return\" nor \"error\"");
  }
}

Status QmpClient::expect_empty(const std::string& command) {
  auto r = execute(command);
  if (!r) return r.error();
  return {};
}

Result<std::string> QmpClient::query_status() {
  auto r = execute("query-status");
  if (!r) return r.error();
  std::string status = r->string_at("status");
  if (status.empty()) return make_error(EPROTO, "qmp query-status: no \"status\" in the answer");
  return status;
}

Status QmpClient::stop() {
  return expect_empty("stop");
}
Status QmpClient::cont() {
  return expect_empty("cont");
}
Status QmpClient::system_powerdown() {
  return expect_empty("system_powerdown");
}
Status QmpClient::system_reset() {
  return expect_empty("system_reset");
}

Status QmpClient::quit() {
  auto r = execute("quit");
  // QEMU exits right after (or before) answering: a closed socket is what we asked for.
  if (!r && r.code() != ECONNRESET) return r.error();
  return {};
}

Status QmpClient::screendump(const std::string& path, const std::string& device) {
  json::Object args{{"filename", path}};
  if (!device.empty()) args.emplace("device", device);
  auto r = execute("screendump", json::Value(std::move(args)));
  if (!r) return r.error();
  return {};
}

}  // namespace bridge::vm
