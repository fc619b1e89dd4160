#include "tools/bridgectl/control_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "schema/errno_map.h"

namespace bridge::ctl {
namespace {

Status write_all(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return make_error(errno, std::string("control socket write: ") + std::strerror(errno));
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

SchemeInfo to_info(wire::Export::Reader e) {
  return SchemeInfo{e.getName(),   e.getKind() == wire::Export::Kind::DISPLAY,
                    e.getEngine(), e.getReadOnly(),
                    e.getOnline(), e.getGuest(),
                    e.getNote()};
}

}  // namespace

Result<std::unique_ptr<ControlClient>> ControlClient::connect(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return make_error(errno, std::string("socket: ") + std::strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return make_error(ENAMETOOLONG, "control socket path too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  // INVARIANT: sockaddr_un is the address type for AF_UNIX.
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return make_error(errno, "cannot reach bridge-host at " + path + ": " + std::strerror(errno) +
                                 " (is bridge-host running? see --control)");
  auto client = std::make_unique<ControlClient>(std::move(fd));
  if (auto st = client->read_hello(); !st) return st.error();
  return client;
}

Status ControlClient::read_hello() {
  capnp::MallocMessageBuilder hello;
  auto h = hello.initRoot<wire::Message>().initHello();
  h.setMajor(wire::PROTOCOL_MAJOR);
  h.setMinor(wire::PROTOCOL_MINOR);
  h.setRole(wire::Hello::Role::CONTROL);
  h.setName("bridgectl");
  if (auto st = send(hello); !st) return st;
  auto reply = receive();
  if (!reply) return reply.error();
  try {
    auto msg = reply->message();
    if (!msg.isHello()) return make_error(EPROTO, "bridge-host did not answer with a hello");
    host_name_ = msg.getHello().getName();
    for (auto e : msg.getHello().getExports()) schemes_.push_back(to_info(e));
  } catch (const kj::Exception& e) {
    return make_error(
        EPROTO, std::string("malformed hello from bridge-host: ") + e.getDescription().cStr());
  }
  return {};
}

Result<uint16_t> ControlClient::index_of(std::string_view scheme) const {
  for (std::size_t i = 0; i < schemes_.size(); ++i) {
    if (schemes_[i].name == scheme) return static_cast<uint16_t>(i);
  }
  return make_error(ENOENT, "no scheme '" + std::string(scheme) + "' (see 'bridgectl status')");
}

Status ControlClient::send(capnp::MessageBuilder& message) {
  auto words = frame::encode(message);
  auto bytes = words.asBytes();
  return write_all(fd_.get(), bytes.begin(), bytes.size());
}

Result<frame::Frame> ControlClient::receive() {
  while (true) {
    auto decoded = frame::decode(buffer_);
    if (decoded) {
      buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<long>(decoded->consumed));
      return std::move(decoded->frame);
    }
    if (decoded.code() != ENODATA) return decoded.error();
    std::byte chunk[65536];
    ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return make_error(errno, std::string("control socket read: ") + std::strerror(errno));
    if (n == 0) return make_error(ECONNRESET, "bridge-host closed the control connection");
    buffer_.insert(buffer_.end(), chunk, chunk + n);
  }
}

Result<frame::Frame> ControlClient::call(std::unique_ptr<capnp::MallocMessageBuilder> message) {
  const uint64_t id = next_id_++;
  message->getRoot<wire::Message>().getRequest().setId(id);
  if (auto st = send(*message); !st) return st.error();
  while (true) {
    auto reply = receive();
    if (!reply) return reply;
    try {
      auto msg = reply->message();
      if (msg.isResponse() && msg.getResponse().getId() == id) return reply;
    } catch (const kj::Exception&) {
      return make_error(EPROTO, "malformed response from bridge-host");
    }
  }
}

void ControlClient::submit(std::unique_ptr<capnp::MallocMessageBuilder> message, Completion done) {
  done(call(std::move(message)));
}

}  // namespace bridge::ctl
