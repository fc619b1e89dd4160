#include "bridge-host/frontends/display/display_frontend.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>
#include <filesystem>

#include "bridge-host/frontends/display/display_session.h"
#include "client/display_protocol.h"

namespace bridge::host {
namespace {

Result<UniqueFd> listen_seqpacket(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path)
    return make_error(ENAMETOOLONG, "display socket path too long: " + path);
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd) return make_error(errno, "socket for " + path);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ::unlink(path.c_str());  // a stale socket of an earlier run
  // INVARIANT: addr is a fully initialized sockaddr_un; bind reads sizeof addr bytes of it.
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return make_error(errno, "bind " + path);
  if (::chmod(path.c_str(), 0660) != 0) return make_error(errno, "chmod 0660 " + path);
  if (::listen(fd.get(), 16) != 0) return make_error(errno, "listen " + path);
  return fd;
}

pid_t peer_pid(int sock) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return 0;
  return cred.pid;
}

}  // namespace

DisplayFrontend::DisplayFrontend(SchemeRegistry& registry, DisplayFrontendOptions options)
    : registry_(registry), options_(std::move(options)) {}

DisplayFrontend::~DisplayFrontend() {
  stop();
}

std::string DisplayFrontend::socket_path(const std::string& scheme) const {
  return options_.dir + "/" + scheme + ".sock";
}

void DisplayFrontend::attach_to_registry() {
  registry_.set_display_listener([this](const std::string& scheme) {
    if (auto st = serve(scheme); !st)
      spdlog::error("display frontend: {}: {}", scheme, st.error().context);
  });
}

Status DisplayFrontend::serve(const std::string& scheme) {
  std::lock_guard lock(mu_);
  if (stopping_) return make_error(ECANCELED, "display frontend is stopping");
  for (const auto& s : servers_)
    if (s->scheme == scheme) return {};
  std::error_code ec;
  std::filesystem::create_directories(options_.dir, ec);
  auto server = std::make_unique<Server>();
  server->scheme = scheme;
  server->path = socket_path(scheme);
  auto fd = listen_seqpacket(server->path);
  if (!fd) return fd.error();
  server->listen = std::move(*fd);
  server->accept = std::thread([this, s = server.get()] { accept_loop(*s); });
  spdlog::info("display {} for clients at {}", scheme, server->path);
  servers_.push_back(std::move(server));
  return {};
}

void DisplayFrontend::accept_loop(Server& server) {
  while (true) {
    int fd = ::accept4(server.listen.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      std::lock_guard lock(mu_);
      if (!stopping_) spdlog::error("display {}: accept: {}", server.scheme, std::strerror(errno));
      return;
    }
    std::lock_guard lock(mu_);
    reap_finished();
    if (stopping_) {
      ::close(fd);
      return;
    }
    auto conn = std::make_unique<Connection>();
    conn->sock = UniqueFd(fd);
    conn->thread =
        std::thread([this, scheme = server.scheme, c = conn.get()] { serve_client(scheme, *c); });
    connections_.push_back(std::move(conn));
  }
}

void DisplayFrontend::serve_client(const std::string& scheme, Connection& conn) {
  const int sock = conn.sock.get();
  const pid_t pid = peer_pid(sock);
  {
    DisplaySession session(registry_, scheme, next_owner_++, pid, sock);
    while (true) {
      auto packet = display::recv_packet(sock);
      if (packet.fd >= 0) ::close(packet.fd);  // clients have no business sending fds
      if (packet.error == EMSGSIZE) {
        session.handle({});  // answered as malformed; the connection stays
        continue;
      }
      if (packet.error != 0 || packet.bytes.empty()) break;
      session.handle(packet.bytes);
    }
  }  // the session detaches here: a client gone mid-frame frees the display
  spdlog::debug("display {}: client pid {} gone", scheme, pid);
  conn.finished = true;
}

void DisplayFrontend::reap_finished() {
  for (auto it = connections_.begin(); it != connections_.end();) {
    if (!(*it)->finished) {
      ++it;
      continue;
    }
    (*it)->thread.join();
    it = connections_.erase(it);
  }
}

void DisplayFrontend::stop() {
  std::vector<std::unique_ptr<Server>> servers;
  std::list<std::unique_ptr<Connection>> connections;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    // shutdown() wakes the blocked accept() and recvmsg() calls; the fds close after the joins.
    for (auto& s : servers_) ::shutdown(s->listen.get(), SHUT_RDWR);
    for (auto& c : connections_) ::shutdown(c->sock.get(), SHUT_RDWR);
    servers.swap(servers_);
    connections.swap(connections_);
  }
  for (auto& s : servers) {
    s->accept.join();
    ::unlink(s->path.c_str());
  }
  for (auto& c : connections) c->thread.join();
  registry_.set_display_listener(nullptr);
}

}  // namespace bridge::host
