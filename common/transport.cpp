#include "common/transport.h"

#include <linux/vm_sockets.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "common/fd_passing.h"

namespace bridge {
namespace {

using GenericEndpoint = asio::generic::stream_protocol::endpoint;

std::string socket_file(const Endpoint& ep, uint32_t hybrid_port) {
  if (ep.kind == Endpoint::Kind::hybrid) return ep.path + "_" + std::to_string(hybrid_port);
  if (ep.kind == Endpoint::Kind::unix_socket) return ep.path;
  return {};
}

GenericEndpoint unix_endpoint(const std::string& path) {
  return GenericEndpoint(asio::local::stream_protocol::endpoint(path));
}

GenericEndpoint vsock_endpoint(uint32_t cid, uint32_t port) {
  sockaddr_vm addr{};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = cid;
  addr.svm_port = port;
  return GenericEndpoint(&addr, sizeof addr, 0);
}

Result<GenericEndpoint> to_generic(const Endpoint& ep, uint32_t hybrid_port) {
  switch (ep.kind) {
    case Endpoint::Kind::unix_socket:
    case Endpoint::Kind::hybrid:
      return unix_endpoint(socket_file(ep, hybrid_port));
    case Endpoint::Kind::vsock:
      return vsock_endpoint(ep.cid ? ep.cid : VMADDR_CID_ANY, ep.port);
    case Endpoint::Kind::tcp: {
      error_code ec;
      auto addr = asio::ip::make_address(ep.host, ec);
      if (ec) return make_error(EINVAL, "tcp host '" + ep.host + "': " + ec.message());
      return GenericEndpoint(asio::ip::tcp::endpoint(addr, static_cast<uint16_t>(ep.port)));
    }
    case Endpoint::Kind::vhost_user:
      break;
  }
  return make_error(EINVAL, ep.str() + " is not a socket endpoint");
}

// A unix socket file that nobody accepts on is left over from a dead process.
bool stale_unix_socket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  // INVARIANT: sockaddr_un is the address type for AF_UNIX; the length covers the whole struct.
  bool refused =
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno == ECONNREFUSED;
  ::close(fd);
  return refused;
}

}  // namespace

Result<Acceptor> listen_on(asio::io_context& io, const Endpoint& endpoint, uint32_t hybrid_port) {
  auto ep = to_generic(endpoint, hybrid_port);
  if (!ep) return ep.error();
  if (auto path = socket_file(endpoint, hybrid_port); !path.empty()) {
    if (::access(path.c_str(), F_OK) == 0) {
      if (!stale_unix_socket(path))
        return make_error(EADDRINUSE, "socket " + path +
                                          " is in use by a running process: stop it "
                                          "or choose another path");
      ::unlink(path.c_str());
    }
  }
  Acceptor acceptor(io);
  error_code ec;
  acceptor.open(ep->protocol(), ec);
  if (!ec && endpoint.kind == Endpoint::Kind::tcp)
    acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(*ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::string hint = endpoint.kind == Endpoint::Kind::vsock
                           ? " (does this kernel have vhost-vsock? try vhost-user:PATH instead)"
                           : "";
    return make_error(ec.value(),
                      "cannot listen on " + endpoint.str() + ": " + ec.message() + hint);
  }
  return acceptor;
}

asio::awaitable<Result<Socket>> connect_to(const Endpoint& endpoint) {
  auto ep = to_generic(endpoint, 0);
  if (!ep) co_return ep.error();
  Socket socket(co_await asio::this_coro::executor);
  error_code ec;
  co_await socket.async_connect(*ep, asio::redirect_error(asio::use_awaitable, ec));
  if (ec)
    co_return make_error(ec.value(), "cannot connect to " + endpoint.str() + ": " + ec.message());
  co_return std::move(socket);
}

std::string describe_peer(const Socket& socket) {
  error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) return "peer";
  switch (ep.protocol().family()) {
    case AF_UNIX:
      return "unix peer";
    case AF_VSOCK: {
      // INVARIANT: an AF_VSOCK endpoint's storage holds a sockaddr_vm.
      auto* vm = reinterpret_cast<const sockaddr_vm*>(ep.data());
      return "vsock:" + std::to_string(vm->svm_cid) + ":" + std::to_string(vm->svm_port);
    }
    default:
      return "tcp peer";
  }
}

namespace {

// One recvmsg(MSG_PEEK) of a single byte, collecting at most one passed fd (fd_passing.h closes
// any extra ones a hostile sender attached).
Result<UniqueFd> peek_one(int sock) {
  std::byte byte{};
  int fd = -1;
  ssize_t n = recvmsg_fd(sock, std::span(&byte, 1), MSG_PEEK | MSG_DONTWAIT, &fd);
  if (n < 0) return make_error(errno, "peek at the host's first byte");
  UniqueFd passed(fd);
  if (n == 0) return make_error(ECONNRESET, "host closed the connection before its hello");
  return passed;
}

}  // namespace

Result<UniqueFd> peek_passed_fd(Socket& socket) {
  return peek_one(socket.native_handle());
}

Result<std::size_t> send_with_fd(Socket& socket, std::span<const std::byte> bytes, int fd) {
  ssize_t n = sendmsg_fd(socket.native_handle(), bytes, fd, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0) return make_error(errno, "send the shared region's fd");
  return static_cast<std::size_t>(n);
}

}  // namespace bridge
