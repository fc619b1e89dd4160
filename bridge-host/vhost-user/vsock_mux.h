// The host end of one guest's virtio-vsock device: every connection of that guest, keyed by
// (guest port, host port). Pure logic: packets from the TX queue go in through on_packet(),
// packets for the RX queue come out of next_packet(); no sockets, no threads, no clocks.
//
// Only the guest connects (REQUEST to a host port we listen on); the host never dials out.
// Answers follow Linux's virtio_transport_recv_pkt: a REQUEST to a port nobody listens on, or
// any packet for a connection that does not exist, gets an RST; an RST is never answered.
// A guest that breaks the protocol on one connection (credit violation, RW after its own
// SHUTDOWN, a second REQUEST for a live pair, an unknown op) loses that connection only.
//
// Bounds: at most max_connections connections; at most max_tx_queue bytes waiting per
// connection (send() says ENOBUFS beyond, so the layer above applies back-pressure); RSTs for
// connections that do not exist are dropped once max_control_queue answers are waiting (a guest
// that floods us and withholds RX buffers cannot grow our memory). Per-connection control
// packets are deduplicated, so they are bounded by the number of connections.
//
// Threading: one owner (the device's io_context). Sinks may call send/consumed/shutdown/reset
// from inside their callbacks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bridge-host/vhost-user/vsock_connection.h"
#include "bridge-host/vhost-user/vsock_packet.h"
#include "common/result.h"

namespace bridge::vhost_user {

// Decides about each REQUEST to a listening port.
class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  // A new connection `id`; return its sink, or nullptr to refuse (the guest gets an RST). The
  // connection exists once this returns: send() works from then on, not inside this call.
  virtual std::shared_ptr<StreamSink> on_accept(ConnId id, uint32_t guest_port,
                                                uint32_t host_port) = 0;
};

struct MuxConfig {
  uint64_t guest_cid = 3;
  uint32_t buf_alloc = 256 * 1024;  // our receive buffer per connection (Linux's default)
  std::size_t max_tx_queue = 1024 * 1024;
  std::size_t max_connections = 1024;
  std::size_t max_control_queue = 1024;
};

// A packet for the guest's RX queue: header.len == payload.size().
struct OutPacket {
  VsockHeader header;
  std::vector<uint8_t> payload;
};

class VsockMux {
 public:
  VsockMux(MuxConfig config, ConnectionHandler& handler);
  VsockMux(const VsockMux&) = delete;
  VsockMux& operator=(const VsockMux&) = delete;

  void listen(uint32_t host_port) { listening_.insert(host_port); }
  void unlisten(uint32_t host_port) { listening_.erase(host_port); }

  // One packet from the guest's TX queue: its header and the bytes that followed it in the
  // chain (at least header.len of them, or the packet is refused). Never fails: whatever the
  // guest sent, the outcome is a state change and/or packets to send.
  void on_packet(const VsockHeader& header, std::span<const uint8_t> payload);

  bool has_output() const { return !control_.empty() || !ready_.empty(); }
  // The next packet for the guest, control packets first. An RW carries at most `max_payload`
  // bytes (what the RX buffer holds after the header), and only what the guest's credit allows.
  std::optional<OutPacket> next_packet(uint32_t max_payload);

  // --- the layer above ---
  // Queue bytes for the guest. ENOTCONN: no such connection or the host already shut it down;
  // EPIPE: the guest will not receive any more; ENOBUFS: queue full, nothing queued.
  Status send(ConnId id, std::span<const uint8_t> bytes);
  // The layer above is done with `n` bytes delivered through on_data (returns guest credit).
  Status consumed(ConnId id, uint32_t n);
  // Graceful close: queued bytes go out, then SHUTDOWN (both directions); the connection ends
  // (on_reset) when the guest answers with RST. The caller owns the timeout: reset() forces it.
  Status shutdown(ConnId id);
  // Abortive close: RST now, queued bytes dropped, no on_reset.
  void reset(ConnId id);
  // Device reset or guest gone: every connection ends with on_reset, queued packets dropped.
  void reset_all();
  // Rings stopped while the guest may live on (QEMU stops them on a pause as well as on a
  // driver reset): as reset_all, then an RST per dropped connection is queued for the guest.
  // After a pause the guest's sockets learn of their end when the rings restart (bridge-guest
  // then redials); a reset driver drops RSTs for sockets it does not know.
  void reset_all_telling_guest();

  std::size_t connection_count() const { return conns_.size(); }
  const VsockConnection* find(ConnId id) const;

 private:
  using Key = std::pair<uint32_t, uint32_t>;  // (guest port, host port)
  struct Control {
    VsockOp op;
    uint32_t guest_port;
    uint32_t host_port;
    uint32_t flags;
    ConnId conn;  // 0: no connection (RST to a stranger); credit fields stay 0
  };

  VsockConnection* lookup(ConnId id);
  void on_request(const VsockHeader& h);
  void on_connected(VsockConnection& conn, const VsockHeader& h, std::span<const uint8_t> data);
  void queue_control(VsockOp op, uint32_t guest_port, uint32_t host_port, uint32_t flags,
                     ConnId conn);
  void queue_stranger_rst(const VsockHeader& h);
  void mark_ready(VsockConnection& conn);
  void maybe_finish_shutdown(VsockConnection& conn);
  // Removes the connection; with `rst` an RST goes to the guest; with `notify` the sink hears
  // on_reset (after removal, so it may call anything).
  void close(ConnId id, bool rst, bool notify);
  VsockHeader header_for(uint32_t guest_port, uint32_t host_port, VsockOp op) const;

  MuxConfig config_;
  ConnectionHandler& handler_;
  std::set<uint32_t> listening_;
  std::map<Key, ConnId> by_key_;
  std::unordered_map<ConnId, std::unique_ptr<VsockConnection>> conns_;
  ConnId next_id_ = 1;
  std::deque<Control> control_;
  std::deque<ConnId> ready_;  // connections with bytes queued and credit to send them
};

}  // namespace bridge::vhost_user
