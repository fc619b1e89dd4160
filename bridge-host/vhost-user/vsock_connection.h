// One virtio-vsock stream connection, guest port <-> host port, as the host device sees it:
// credit flow control in both directions and the bytes waiting to go to the guest. The
// connection knows nothing of queues or packets' fate; VsockMux drives it.
//
// Credit (virtio 1.2 section 5.10.6.3), all counters Wrap32:
//   guest -> host: we advertise buf_alloc and fwd_cnt (bytes the layer above consumed) on every
//     packet we send. The guest may have at most buf_alloc bytes in flight past the fwd_cnt it
//     last saw from us; receive() enforces that against what we last advertised, so sending
//     more than we advertised is a credit violation and the connection is reset.
//   host -> guest: the guest advertises peer_buf_alloc and peer_fwd_cnt; we may send
//     peer_free = peer_buf_alloc - (tx_cnt - peer_fwd_cnt) more bytes, 0 when the guest has
//     shrunk its buffer below what is in flight (or claims to have consumed more than we sent).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "bridge-host/vhost-user/vsock_packet.h"
#include "bridge-host/vhost-user/wrapping.h"
#include "common/result.h"

namespace bridge::vhost_user {

// Opaque connection id, never reused within one mux, so a stale id cannot reach a newer
// connection on the same ports.
using ConnId = uint64_t;

// The layer above, one per accepted connection. Calls come from the mux's owner thread; a
// sink may call back into the mux (send, consumed, shutdown, reset) from inside any of them.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // Bytes the guest sent, in order. They count against the guest's credit until the layer
  // above reports them with VsockMux::consumed().
  virtual void on_data(std::span<const uint8_t> bytes) = 0;
  // The guest shut down one or both directions (kShutdownRecv / kShutdownSend, cumulative).
  virtual void on_peer_shutdown(uint32_t flags) = 0;
  // The connection is gone (RST from the guest, protocol or credit violation, full shutdown,
  // device reset). The last call; the id is dead. Not called after VsockMux::reset().
  virtual void on_reset() = 0;
};

class VsockConnection {
 public:
  VsockConnection(ConnId id, uint32_t guest_port, uint32_t host_port, uint32_t buf_alloc,
                  std::size_t max_tx_queue, std::shared_ptr<StreamSink> sink);
  VsockConnection(const VsockConnection&) = delete;
  VsockConnection& operator=(const VsockConnection&) = delete;

  ConnId id() const { return id_; }
  uint32_t guest_port() const { return guest_port_; }
  uint32_t host_port() const { return host_port_; }
  const std::shared_ptr<StreamSink>& sink() const { return sink_; }

  // --- guest -> host ---
  // Credit fields of any packet from the guest.
  void update_peer_credit(uint32_t buf_alloc, uint32_t fwd_cnt);
  // An RW payload of `len` bytes arrived. False (and nothing counted) when it exceeds the
  // credit we advertised: a violation.
  bool receive(uint32_t len);
  // The layer above consumed `n` received bytes. EINVAL when n exceeds what is unconsumed.
  Status consume(uint32_t n);
  // Whether to volunteer a CREDIT_UPDATE: we consumed bytes the guest does not know about and
  // its view of our free space has fallen below a packet's worth (the Linux rule), so it may be
  // blocked waiting.
  bool credit_update_due() const;
  // Fills buf_alloc and fwd_cnt of an outgoing header and remembers what was advertised.
  void advertise(VsockHeader& header);

  // --- host -> guest ---
  uint32_t peer_free() const;
  // Queues bytes for the guest. ENOBUFS (nothing queued) past max_tx_queue.
  Status enqueue(std::span<const uint8_t> bytes);
  std::size_t tx_pending() const { return tx_pending_; }
  // Moves up to min(max, peer_free(), tx_pending()) bytes into `out` and counts them as sent.
  std::size_t take(uint32_t max, std::vector<uint8_t>& out);
  void drop_tx();

  // Counters, for tests and logs.
  Wrap32 rx_cnt() const { return rx_cnt_; }
  Wrap32 fwd_cnt() const { return fwd_cnt_; }
  Wrap32 tx_cnt() const { return tx_cnt_; }
  uint32_t buf_alloc() const { return buf_alloc_; }

  // State the mux keeps per connection (the mux is the only writer).
  uint32_t guest_shutdown = 0;  // kShutdown* flags received
  bool host_shutdown = false;   // layer above closed; SHUTDOWN goes out once tx drains
  bool shutdown_sent = false;   // our SHUTDOWN is queued; waiting for the guest's RST
  bool in_ready_list = false;   // has a slot in the mux's round-robin of senders
  bool credit_update_queued = false;

 private:
  ConnId id_;
  uint32_t guest_port_;
  uint32_t host_port_;
  uint32_t buf_alloc_;
  std::size_t max_tx_queue_;
  std::shared_ptr<StreamSink> sink_;

  Wrap32 rx_cnt_;          // bytes received from the guest
  Wrap32 fwd_cnt_;         // bytes the layer above consumed
  Wrap32 advertised_fwd_;  // fwd_cnt in the last header we sent
  uint32_t peer_buf_alloc_ = 0;
  Wrap32 peer_fwd_cnt_;
  Wrap32 tx_cnt_;  // bytes sent to the guest

  std::deque<std::vector<uint8_t>> tx_;  // queued for the guest, in order
  std::size_t tx_front_offset_ = 0;      // bytes of tx_.front() already sent
  std::size_t tx_pending_ = 0;
};

}  // namespace bridge::vhost_user
