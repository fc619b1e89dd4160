#include "bridge-host/vhost-user/vsock_device.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace bridge::vhost_user {

VsockDevice::VsockDevice(MuxConfig config, ConnectionHandler& handler)
    : cid_(config.guest_cid), mux_(config, handler) {}

Virtqueue* VsockDevice::queue(uint32_t index) {
  return index < kQueueCount ? &queues_[index] : nullptr;
}

void VsockDevice::set_memory(GuestMemory memory) {
  rx_spare_.reset();  // its buffers point into the old mappings
  memory_ = std::move(memory);
}

uint32_t VsockDevice::notify_bit(uint32_t index) {
  auto needed = queues_[index].needs_notify(memory_);
  return needed && *needed ? (1u << index) : 0u;
}

uint32_t VsockDevice::on_tx_kick() {
  Virtqueue& tx = queues_[kTxQueue];
  bool pushed = false;
  while (usable(tx)) {
    auto popped = tx.pop(memory_);
    if (!popped) {
      spdlog::warn("vhost-user-vsock: TX queue: {}", popped.error().context);
      break;
    }
    if (!popped->has_value()) break;
    const DescriptorChain& chain = **popped;
    std::array<uint8_t, kVsockHeaderSize> raw{};
    if (gather(chain, 0, raw) == raw.size()) {
      auto header = parse_vsock_header(raw);
      if (header) {
        // Never more than the header claims, nor past what validation accepts (one byte more
        // lets validate_from_guest see an oversized len as such).
        const uint64_t after = chain.readable_bytes - kVsockHeaderSize;
        const uint64_t want =
            std::min<uint64_t>({header->len, after, uint64_t{kMaxPacketPayload} + 1});
        scratch_.resize(want);
        const std::size_t got = gather(chain, kVsockHeaderSize, scratch_);
        mux_.on_packet(*header, std::span<const uint8_t>(scratch_.data(), got));
      }
    }
    if (!tx.push(memory_, chain.head, 0)) break;
    pushed = true;
  }
  uint32_t mask = pushed ? notify_bit(kTxQueue) : 0u;
  return mask | fill_rx();
}

uint32_t VsockDevice::fill_rx() {
  Virtqueue& rx = queues_[kRxQueue];
  bool pushed = false;
  while (mux_.has_output() && usable(rx)) {
    if (!rx_spare_) {
      auto popped = rx.pop(memory_);
      if (!popped) {
        spdlog::warn("vhost-user-vsock: RX queue: {}", popped.error().context);
        break;
      }
      if (!popped->has_value()) break;  // no buffers: the next kick on RX brings more
      rx_spare_ = std::move(**popped);
    }
    const DescriptorChain& chain = *rx_spare_;
    if (chain.writable_bytes < kVsockHeaderSize) {
      // Useless to us; give it back empty rather than hold it forever.
      const uint16_t head = chain.head;
      rx_spare_.reset();
      if (!rx.push(memory_, head, 0)) break;
      pushed = true;
      continue;
    }
    const uint32_t room = static_cast<uint32_t>(
        std::min<uint64_t>(chain.writable_bytes - kVsockHeaderSize, kMaxPacketPayload));
    std::optional<OutPacket> packet = mux_.next_packet(room);
    if (!packet) break;  // stale entries only; keep the chain for later
    const auto raw = serialize_vsock_header(packet->header);
    std::size_t written = scatter(chain, 0, raw);
    written += scatter(chain, kVsockHeaderSize, packet->payload);
    const uint16_t head = chain.head;
    rx_spare_.reset();
    if (!rx.push(memory_, head, static_cast<uint32_t>(written))) break;
    pushed = true;
  }
  return pushed ? notify_bit(kRxQueue) : 0u;
}

void VsockDevice::reset() {
  rx_spare_.reset();
  mux_.reset_all();
  for (auto& q : queues_) q = Virtqueue{};
  memory_ = GuestMemory{};
}

}  // namespace bridge::vhost_user
