#include "bridge-host/vhost-user/vsock_mux.h"

namespace bridge::vhost_user {

VsockMux::VsockMux(MuxConfig config, ConnectionHandler& handler)
    : config_(config), handler_(handler) {}

VsockConnection* VsockMux::lookup(ConnId id) {
  auto it = conns_.find(id);
  return it == conns_.end() ? nullptr : it->second.get();
}

const VsockConnection* VsockMux::find(ConnId id) const {
  auto it = conns_.find(id);
  return it == conns_.end() ? nullptr : it->second.get();
}

VsockHeader VsockMux::header_for(uint32_t guest_port, uint32_t host_port, VsockOp op) const {
  VsockHeader h;
  h.src_cid = kHostCid;
  h.dst_cid = config_.guest_cid;
  h.src_port = host_port;
  h.dst_port = guest_port;
  h.type = static_cast<uint16_t>(VsockType::stream);
  h.op = static_cast<uint16_t>(op);
  return h;
}

void VsockMux::queue_control(VsockOp op, uint32_t guest_port, uint32_t host_port, uint32_t flags,
                             ConnId conn) {
  control_.push_back(Control{op, guest_port, host_port, flags, conn});
}

void VsockMux::queue_stranger_rst(const VsockHeader& h) {
  if (h.operation() == VsockOp::rst) return;                 // never answer an RST
  if (control_.size() >= config_.max_control_queue) return;  // flood: drop the answer
  queue_control(VsockOp::rst, h.src_port, h.dst_port, 0, 0);
}

void VsockMux::mark_ready(VsockConnection& conn) {
  if (conn.in_ready_list || conn.tx_pending() == 0 || conn.peer_free() == 0) return;
  conn.in_ready_list = true;
  ready_.push_back(conn.id());
}

void VsockMux::close(ConnId id, bool rst, bool notify) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  std::unique_ptr<VsockConnection> conn = std::move(it->second);
  conns_.erase(it);
  by_key_.erase({conn->guest_port(), conn->host_port()});
  // Control packets and ready_ entries naming `id` are skipped when dequeued.
  if (rst) queue_control(VsockOp::rst, conn->guest_port(), conn->host_port(), 0, 0);
  std::shared_ptr<StreamSink> sink = conn->sink();
  conn.reset();
  if (notify && sink) sink->on_reset();
}

void VsockMux::on_packet(const VsockHeader& h, std::span<const uint8_t> payload) {
  const Verdict verdict = validate_from_guest(h, config_.guest_cid, payload.size());
  if (verdict == Verdict::drop) return;
  auto key_it = by_key_.find({h.src_port, h.dst_port});
  const ConnId id = key_it == by_key_.end() ? 0 : key_it->second;
  if (verdict == Verdict::reset) {
    if (id != 0) {
      close(id, true, true);
    } else {
      queue_stranger_rst(h);
    }
    return;
  }

  const VsockOp op = h.operation();
  if (op == VsockOp::request) {
    if (id != 0) {
      close(id, true, true);  // a second REQUEST for a live pair: the guest lost track; reset
      return;
    }
    on_request(h);
    return;
  }
  if (id == 0) {
    queue_stranger_rst(h);
    return;
  }
  on_connected(*conns_.at(id), h, payload.first(h.len));
}

void VsockMux::on_request(const VsockHeader& h) {
  if (!listening_.contains(h.dst_port) || conns_.size() >= config_.max_connections) {
    queue_stranger_rst(h);
    return;
  }
  const ConnId id = next_id_++;
  std::shared_ptr<StreamSink> sink = handler_.on_accept(id, h.src_port, h.dst_port);
  if (!sink) {
    queue_stranger_rst(h);
    return;
  }
  auto conn = std::make_unique<VsockConnection>(id, h.src_port, h.dst_port, config_.buf_alloc,
                                                config_.max_tx_queue, std::move(sink));
  conn->update_peer_credit(h.buf_alloc, h.fwd_cnt);
  by_key_[{h.src_port, h.dst_port}] = id;
  conns_.emplace(id, std::move(conn));
  queue_control(VsockOp::response, h.src_port, h.dst_port, 0, id);
}

void VsockMux::on_connected(VsockConnection& conn, const VsockHeader& h,
                            std::span<const uint8_t> data) {
  const ConnId id = conn.id();
  switch (h.operation()) {
    case VsockOp::rst:
      close(id, false, true);
      return;
    case VsockOp::rw: {
      conn.update_peer_credit(h.buf_alloc, h.fwd_cnt);
      if ((conn.guest_shutdown & kShutdownSend) || !conn.receive(h.len)) {
        close(id, true, true);  // data after its own SHUTDOWN, or past our credit
        return;
      }
      mark_ready(conn);
      if (data.empty()) return;
      std::shared_ptr<StreamSink> sink = conn.sink();  // keeps the sink alive if it resets
      sink->on_data(data);
      return;
    }
    case VsockOp::credit_update:
      conn.update_peer_credit(h.buf_alloc, h.fwd_cnt);
      mark_ready(conn);
      return;
    case VsockOp::credit_request:
      conn.update_peer_credit(h.buf_alloc, h.fwd_cnt);
      mark_ready(conn);
      if (!conn.credit_update_queued) {
        conn.credit_update_queued = true;
        queue_control(VsockOp::credit_update, conn.guest_port(), conn.host_port(), 0, id);
      }
      return;
    case VsockOp::shutdown: {
      conn.update_peer_credit(h.buf_alloc, h.fwd_cnt);
      const uint32_t flags = h.flags & kShutdownBoth;
      conn.guest_shutdown |= flags;
      const bool both = conn.guest_shutdown == kShutdownBoth;
      if (conn.guest_shutdown & kShutdownRecv) conn.drop_tx();  // it will not read them
      std::shared_ptr<StreamSink> sink = conn.sink();
      sink->on_peer_shutdown(conn.guest_shutdown);
      // Both directions shut: the connection is over; answer with RST as Linux does.
      if (both) close(id, true, true);
      return;
    }
    case VsockOp::response:  // we never send REQUEST
    default:                 // unknown op
      close(id, true, true);
      return;
  }
}

std::optional<OutPacket> VsockMux::next_packet(uint32_t max_payload) {
  while (!control_.empty()) {
    Control c = control_.front();
    control_.pop_front();
    VsockHeader h = header_for(c.guest_port, c.host_port, c.op);
    h.flags = c.flags;
    if (c.conn != 0) {
      VsockConnection* conn = lookup(c.conn);
      if (conn == nullptr) continue;  // closed since; its RST (if any) is queued separately
      if (c.op == VsockOp::credit_update) conn->credit_update_queued = false;
      conn->advertise(h);
    }
    return OutPacket{h, {}};
  }
  while (!ready_.empty()) {
    const ConnId id = ready_.front();
    ready_.pop_front();
    VsockConnection* conn = lookup(id);
    if (conn == nullptr) continue;
    conn->in_ready_list = false;
    OutPacket packet{header_for(conn->guest_port(), conn->host_port(), VsockOp::rw), {}};
    const std::size_t n = conn->take(max_payload, packet.payload);
    mark_ready(*conn);  // round robin: back of the line if more can go
    maybe_finish_shutdown(*conn);
    if (n == 0) continue;
    packet.header.len = static_cast<uint32_t>(n);
    conn->advertise(packet.header);
    return packet;
  }
  return std::nullopt;
}

void VsockMux::maybe_finish_shutdown(VsockConnection& conn) {
  if (!conn.host_shutdown || conn.shutdown_sent || conn.tx_pending() != 0) return;
  conn.shutdown_sent = true;
  queue_control(VsockOp::shutdown, conn.guest_port(), conn.host_port(), kShutdownBoth, conn.id());
}

Status VsockMux::send(ConnId id, std::span<const uint8_t> bytes) {
  VsockConnection* conn = lookup(id);
  if (conn == nullptr || conn->host_shutdown) return make_error(ENOTCONN, "vsock send");
  if (conn->guest_shutdown & kShutdownRecv) return make_error(EPIPE, "guest shut down reading");
  Status queued = conn->enqueue(bytes);
  if (!queued) return queued;
  mark_ready(*conn);
  return {};
}

Status VsockMux::consumed(ConnId id, uint32_t n) {
  VsockConnection* conn = lookup(id);
  if (conn == nullptr) return make_error(ENOTCONN, "vsock consumed");
  Status done = conn->consume(n);
  if (!done) return done;
  if (conn->credit_update_due() && !conn->credit_update_queued) {
    conn->credit_update_queued = true;
    queue_control(VsockOp::credit_update, conn->guest_port(), conn->host_port(), 0, id);
  }
  return {};
}

Status VsockMux::shutdown(ConnId id) {
  VsockConnection* conn = lookup(id);
  if (conn == nullptr) return make_error(ENOTCONN, "vsock shutdown");
  conn->host_shutdown = true;
  maybe_finish_shutdown(*conn);
  return {};
}

void VsockMux::reset(ConnId id) {
  close(id, true, false);
}

void VsockMux::reset_all() {
  std::vector<ConnId> ids;
  ids.reserve(conns_.size());
  for (const auto& [id, conn] : conns_) ids.push_back(id);
  for (ConnId id : ids) close(id, false, true);
  control_.clear();
  ready_.clear();
}

void VsockMux::reset_all_telling_guest() {
  std::vector<Key> ports;
  ports.reserve(conns_.size());
  for (const auto& [id, conn] : conns_) ports.emplace_back(conn->guest_port(), conn->host_port());
  reset_all();
  for (const auto& [guest_port, host_port] : ports) {
    if (control_.size() >= config_.max_control_queue) break;
    queue_control(VsockOp::rst, guest_port, host_port, 0, 0);  // conn 0: tied to no connection
  }
}

}  // namespace bridge::vhost_user
