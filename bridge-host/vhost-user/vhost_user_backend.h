// bridge-host as the vhost-user-vsock device back-end for QEMU's `vhost-user-vsock-pci`: the
// control plane on a unix socket (docs/interop/vhost-user.rst) plus the data path glue between
// the VsockDevice and the session layer above. No host kernel vsock is involved.
//
// Control plane: one front-end (QEMU) at a time on PATH; messages parsed by
// vhost_user_protocol.h, fds taken from SCM_RIGHTS. Offered: VIRTIO_F_VERSION_1,
// VIRTIO_RING_F_INDIRECT_DESC, VHOST_USER_F_PROTOCOL_FEATURES; protocol feature CONFIG only
// (QEMU 7.2 refuses a vsock back-end without it; no MQ, so no GET_QUEUE_NUM is sent, though it
// is answered). QEMU drives only RX and TX; it emulates the EVENT queue itself.
//
// Data path: kick eventfds are read on the io_context; a TX kick drains TX into the mux and
// fills RX; call eventfds are written when the rings say the driver wants an interrupt.
//
// Sessions: each vsock connection the guest opens to `port` gets a socketpair: one end is a
// plain `Socket` handed to `on_link` (bridge-host makes a GuestLink of it, exactly like an
// accepted unix connection), the other is pumped here: guest bytes are written to it and
// credited back to the guest once written; bytes read from it go to the mux within a bounded
// queue; EOF becomes a vsock SHUTDOWN; an RST, a guest shutdown of its sending side or the
// front-end going away closes/half-closes it, so the GuestLink sees EOF and fails what is in
// flight with EIO.
//
// Failure containment: a broken ring stops that queue only; a malformed connection packet
// resets that connection only (VsockMux); a front-end that disconnects or sends garbage resets
// the device and every connection, and the next front-end may connect. Nothing here throws out
// to the daemon.
//
// Threading: everything on the host's single-threaded io_context.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "bridge-host/vhost-user/vhost_user_protocol.h"
#include "bridge-host/vhost-user/vsock_device.h"
#include "common/asio.h"
#include "common/result.h"
#include "common/transport.h"
#include "common/unique_fd.h"

namespace bridge::vhost_user {

class ConnPump;

struct BackendOptions {
  std::string path;        // the vhost-user unix socket QEMU's -chardev connects to
  uint64_t guest_cid = 3;  // reported in the config space; the guest takes it as its CID
  uint32_t port = 5151;    // host port guests connect to
  MuxConfig mux;           // guest_cid is overwritten with the one above
};

class VhostUserBackend : public std::enable_shared_from_this<VhostUserBackend>,
                         private ConnectionHandler {
 public:
  // A new session stream (one vsock connection) and a name for logs.
  using LinkFactory = std::function<void(Socket socket, std::string peer)>;

  VhostUserBackend(asio::io_context& io, BackendOptions options, LinkFactory on_link);
  ~VhostUserBackend() override;
  VhostUserBackend(const VhostUserBackend&) = delete;
  VhostUserBackend& operator=(const VhostUserBackend&) = delete;

  // Binds PATH (replacing a stale socket file; EADDRINUSE if something still answers there)
  // and starts accepting front-ends.
  Status start();
  // Closes the listener and the front-end connection; every vsock connection is reset.
  void stop();

  // For the per-connection pumps: the mux and a nudge to move queued packets into RX.
  VsockMux& mux() { return device_.mux(); }
  void pump_rx();
  void forget(ConnId id);

 private:
  using LocalSocket = asio::local::stream_protocol::socket;

  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(std::shared_ptr<LocalSocket> socket);
  // The reply to send, if the request has one; an error ends the front-end session.
  Result<std::optional<std::vector<uint8_t>>> handle(Message& message);
  void start_kick(uint32_t index, UniqueFd fd);
  void stop_ring(uint32_t index);
  void on_kick(uint32_t index);
  void notify(uint32_t mask);
  void disconnect();  // the front-end is gone: reset the device, close every eventfd

  std::shared_ptr<StreamSink> on_accept(ConnId id, uint32_t guest_port,
                                        uint32_t host_port) override;

  asio::io_context& io_;
  BackendOptions options_;
  LinkFactory on_link_;
  VsockDevice device_;
  std::optional<asio::local::stream_protocol::acceptor> acceptor_;
  bool unlinked_ = false;                  // stop() removed the socket file
  std::shared_ptr<LocalSocket> frontend_;  // the connected QEMU, if any
  std::array<std::shared_ptr<asio::posix::stream_descriptor>, VsockDevice::kQueueCount> kicks_;
  std::array<UniqueFd, VsockDevice::kQueueCount> calls_;
  uint64_t features_ = 0;
  uint64_t protocol_features_ = 0;
  std::unordered_map<ConnId, std::shared_ptr<ConnPump>> pumps_;
};

}  // namespace bridge::vhost_user
