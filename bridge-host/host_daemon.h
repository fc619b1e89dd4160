// bridge-host's network side: the guest listeners and the control socket, each an accept loop
// on the io_context, and the links they create. Frontends (FUSE) run beside it and reach the
// guests only through the SchemeRegistry.
#pragma once

#include <list>
#include <memory>
#include <string>
#include <vector>

#include "bridge-host/control_server.h"
#include "bridge-host/guest_link.h"
#include "bridge-host/vhost-user/vhost_user_backend.h"
#include "common/endpoint.h"
#include "common/transport.h"

namespace bridge::host {

struct HostOptions {
  std::vector<Endpoint> listen;
  std::string control_path;  // empty: no control socket
  LinkOptions link;
  // Local mode (unix: listeners): bytes of the memfd region made for each guest connection;
  // 0 disables it. vhost-user listeners take theirs from the endpoint (region=FILE).
  uint64_t local_region_bytes = uint64_t{64} << 20;
};

class HostDaemon {
 public:
  HostDaemon(asio::io_context& io, SchemeRegistry& registry, HostOptions options);

  // Binds every listener and the control socket, then starts accepting. Fails (and binds
  // nothing further) at the first endpoint that cannot be used, naming it.
  Status start();
  // Closes the listeners and every guest link. io_context thread only.
  void stop();

 private:
  asio::awaitable<void> accept_guests(Acceptor& acceptor, Endpoint where);
  Status start_vhost_user(const Endpoint& ep);
  // Local mode: a fresh memfd region for one unix connection, or none (disabled, or it could
  // not be made: the link then runs inline and the log says why).
  RegionOffer local_region_offer(const std::string& peer) const;
  asio::awaitable<void> accept_control(Acceptor& acceptor);
  void spawn(asio::awaitable<void> task, std::string what);
  // A connected guest stream, from any listener: make its GuestLink and run it.
  void adopt_guest(Socket socket, std::string peer, RegionOffer offer);

  asio::io_context& io_;
  SchemeRegistry& registry_;
  HostOptions options_;
  ControlServer control_;
  std::list<Acceptor> acceptors_;  // io_context thread only
  // vhost-user-vsock devices (--listen vhost-user:PATH); io_context thread only.
  std::vector<std::shared_ptr<vhost_user::VhostUserBackend>> backends_;
  std::vector<std::weak_ptr<GuestLink>> links_;  // io_context thread only
};

}  // namespace bridge::host
