#include "bridge-host/vhost-user/vsock_connection.h"

#include <algorithm>
#include <utility>

namespace bridge::vhost_user {

VsockConnection::VsockConnection(ConnId id, uint32_t guest_port, uint32_t host_port,
                                 uint32_t buf_alloc, std::size_t max_tx_queue,
                                 std::shared_ptr<StreamSink> sink)
    : id_(id),
      guest_port_(guest_port),
      host_port_(host_port),
      buf_alloc_(buf_alloc),
      max_tx_queue_(max_tx_queue),
      sink_(std::move(sink)) {}

void VsockConnection::update_peer_credit(uint32_t buf_alloc, uint32_t fwd_cnt) {
  peer_buf_alloc_ = buf_alloc;
  peer_fwd_cnt_ = Wrap32(fwd_cnt);
}

bool VsockConnection::receive(uint32_t len) {
  // In flight per our last advertisement; receive() keeps it <= buf_alloc_, so the sum below
  // cannot overflow 64 bits.
  const uint64_t in_flight = rx_cnt_ - advertised_fwd_;
  if (in_flight + len > buf_alloc_) return false;
  rx_cnt_ += len;
  return true;
}

Status VsockConnection::consume(uint32_t n) {
  if (n > rx_cnt_ - fwd_cnt_) return make_error(EINVAL, "consumed more than was received");
  fwd_cnt_ += n;
  return {};
}

bool VsockConnection::credit_update_due() const {
  if (fwd_cnt_ == advertised_fwd_) return false;  // nothing new to tell
  const uint32_t threshold = std::min<uint32_t>(kMaxPacketPayload, buf_alloc_ / 2);
  const uint32_t in_flight = rx_cnt_ - advertised_fwd_;
  const uint32_t guest_view_free = in_flight >= buf_alloc_ ? 0 : buf_alloc_ - in_flight;
  return guest_view_free < threshold;
}

void VsockConnection::advertise(VsockHeader& header) {
  header.buf_alloc = buf_alloc_;
  header.fwd_cnt = fwd_cnt_.value();
  advertised_fwd_ = fwd_cnt_;
}

uint32_t VsockConnection::peer_free() const {
  const uint32_t in_flight = tx_cnt_ - peer_fwd_cnt_;
  return in_flight >= peer_buf_alloc_ ? 0 : peer_buf_alloc_ - in_flight;
}

Status VsockConnection::enqueue(std::span<const uint8_t> bytes) {
  if (bytes.size() > max_tx_queue_ - std::min(tx_pending_, max_tx_queue_)) {
    return make_error(ENOBUFS, "vsock send queue full");
  }
  if (bytes.empty()) return {};
  tx_.emplace_back(bytes.begin(), bytes.end());
  tx_pending_ += bytes.size();
  return {};
}

std::size_t VsockConnection::take(uint32_t max, std::vector<uint8_t>& out) {
  std::size_t want = std::min<std::size_t>({max, peer_free(), tx_pending_});
  const std::size_t total = want;
  while (want > 0) {
    const std::vector<uint8_t>& front = tx_.front();
    const std::size_t n = std::min(want, front.size() - tx_front_offset_);
    out.insert(out.end(), front.begin() + tx_front_offset_, front.begin() + tx_front_offset_ + n);
    tx_front_offset_ += n;
    want -= n;
    if (tx_front_offset_ == front.size()) {
      tx_.pop_front();
      tx_front_offset_ = 0;
    }
  }
  tx_pending_ -= total;
  tx_cnt_ += static_cast<uint32_t>(total);
  return total;
}

void VsockConnection::drop_tx() {
  tx_.clear();
  tx_front_offset_ = 0;
  tx_pending_ = 0;
}

}  // namespace bridge::vhost_user
