// The virtio-vsock device: its three virtqueues (RX = 0, TX = 1, EVENT = 2, virtio 1.2 section
// 5.10.2) tied to one VsockMux. Pure logic like the layers below it: the vhost-user back-end
// (vhost_user_backend.h) owns the eventfds and calls in here on a kick or when the layer above
// queued bytes; this class says which queues the guest must be told about.
//
// TX: every chain is one packet: a 44-byte header then header.len payload bytes, gathered
// across descriptors (Linux 6.1 puts them in separate ones). A chain too short for a header is
// returned unused and dropped; everything else goes to the mux, which decides.
// RX: a chain is filled with one packet (header, then as much payload as its writable part
// holds after the header, capped at kMaxPacketPayload). A chain popped when the mux turns out
// to have nothing after all is kept for the next packet instead of being returned empty.
// EVENT: the driver parks buffers there for transport resets (migration); we never use them.
//
// Trust: a queue that the driver breaks (Virtqueue's checks) stays broken until it is set up
// again; the device and the other queues carry on.
//
// Threading: none; one owner (the host's io_context).
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "bridge-host/vhost-user/guest_memory.h"
#include "bridge-host/vhost-user/virtqueue.h"
#include "bridge-host/vhost-user/vsock_mux.h"

namespace bridge::vhost_user {

class VsockDevice {
 public:
  static constexpr uint32_t kRxQueue = 0;
  static constexpr uint32_t kTxQueue = 1;
  static constexpr uint32_t kEventQueue = 2;
  static constexpr uint32_t kQueueCount = 3;

  VsockDevice(MuxConfig config, ConnectionHandler& handler);
  VsockDevice(const VsockDevice&) = delete;
  VsockDevice& operator=(const VsockDevice&) = delete;

  VsockMux& mux() { return mux_; }
  uint64_t guest_cid() const { return cid_; }
  // nullptr for an index >= kQueueCount (a front-end naming a queue we do not have).
  Virtqueue* queue(uint32_t index);

  // SET_MEM_TABLE: replaces guest memory; descriptors held from the old table are dropped.
  void set_memory(GuestMemory memory);
  const GuestMemory& memory() const { return memory_; }

  // A queue was set up again or stopped: forget chains held from it.
  void forget_held_chains() { rx_spare_.reset(); }

  // Drains the TX queue into the mux, then fills RX with whatever the mux has. Returns a bit
  // mask (1 << queue index) of the queues whose call eventfd must be signalled.
  uint32_t on_tx_kick();
  // Fills RX chains while the mux has output. Same return value.
  uint32_t fill_rx();

  // The driver is gone (front-end disconnected or reset the device): every connection ends
  // (their sinks hear on_reset), queues and memory are dropped.
  void reset();

 private:
  bool usable(const Virtqueue& q) const { return q.configured() && q.enabled() && !q.broken(); }
  uint32_t notify_bit(uint32_t index);

  uint64_t cid_;
  VsockMux mux_;
  GuestMemory memory_;
  std::array<Virtqueue, kQueueCount> queues_;
  std::optional<DescriptorChain> rx_spare_;  // popped from RX, not yet used
  std::vector<uint8_t> scratch_;             // TX payload gather buffer, reused
};

}  // namespace bridge::vhost_user
