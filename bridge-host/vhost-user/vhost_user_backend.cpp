#include "bridge-host/vhost-user/vhost_user_backend.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>

namespace bridge::vhost_user {
namespace {

// Offered virtio/vhost features. EVENT_IDX is left out on purpose: without it the driver
// notifies on every batch and we interrupt unless it set NO_INTERRUPT, which is simpler to get
// right and plenty for a filesystem bridge.
constexpr uint64_t kOfferedFeatures =
    kFeatureVersion1 | kFeatureRingIndirect | kFeatureProtocolFeatures;
constexpr uint64_t kOfferedProtocol = kProtocolConfig;

// Bytes read from a session socket per go, and how much may wait for guest credit before we
// stop reading (the GuestLink then blocks on its own socket: back-pressure end to end).
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kHighWater = 512 * 1024;
// How long our SHUTDOWN waits for the guest's RST before we reset the connection (Linux's
// VSOCK_CLOSE_TIMEOUT is 8 s).
constexpr std::chrono::seconds kShutdownLinger{10};

using LocalSocket = asio::local::stream_protocol::socket;

// Reads exactly `len` bytes; file descriptors passed with any of them are appended to `fds`.
asio::awaitable<Status> read_exact(LocalSocket& socket, uint8_t* data, std::size_t len,
                                   std::vector<UniqueFd>& fds) {
  std::size_t got = 0;
  while (got < len) {
    error_code ec;
    co_await socket.async_wait(asio::socket_base::wait_read,
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return make_error(ECONNRESET, "vhost-user socket: " + ec.message());
    iovec iov{data + got, len - got};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    // INVARIANT: raw recvmsg because Asio cannot receive SCM_RIGHTS; iov points into the
    // caller's buffer of `len` bytes, control is sized for kMaxFds descriptors.
    const ssize_t n = ::recvmsg(socket.native_handle(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
      co_return make_error(errno, "vhost-user recvmsg");
    }
    // Take ownership of every fd first, so none leaks whatever happens next.
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        fds.emplace_back(fd);
      }
    }
    if (msg.msg_flags & MSG_CTRUNC) co_return make_error(EBADMSG, "vhost-user: too many fds");
    if (n == 0) co_return make_error(ECONNRESET, "vhost-user front-end closed the socket");
    got += static_cast<std::size_t>(n);
  }
  co_return Status{};
}

void spawn_detached(asio::io_context& io, asio::awaitable<void> task, const char* what) {
  asio::co_spawn(io, std::move(task), [what](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("vhost-user {} failed: {}", what, ex.what());
    }
  });
}

}  // namespace

// One vsock connection's session socket, pumped in both directions (see the header).
class ConnPump : public StreamSink, public std::enable_shared_from_this<ConnPump> {
 public:
  ConnPump(VhostUserBackend& backend, ConnId id, LocalSocket socket)
      : backend_(backend), id_(id), socket_(std::move(socket)), wake_(socket_.get_executor()) {}

  void start(asio::io_context& io) { spawn_detached(io, read_loop(shared_from_this()), "pump"); }

  void on_data(std::span<const uint8_t> bytes) override {
    pending_.insert(pending_.end(), bytes.begin(), bytes.end());
    write_next();
  }
  void on_peer_shutdown(uint32_t flags) override {
    if (flags & kShutdownSend) {
      guest_done_sending_ = true;
      write_next();  // half-closes once what is queued is written
    }
  }
  void on_reset() override {
    close();
    backend_.forget(id_);  // the mux holds its own reference for the rest of this call
  }
  void wake() { wake_.cancel(); }
  void close() {
    dead_ = true;
    error_code ignored;
    socket_.close(ignored);
    wake_.cancel();
  }

 private:
  void write_next() {
    if (writing_ || dead_) return;
    if (pending_.empty()) {
      if (guest_done_sending_ && !half_closed_) {
        half_closed_ = true;
        error_code ignored;
        socket_.shutdown(asio::socket_base::shutdown_send, ignored);
      }
      return;
    }
    writing_ = true;
    inflight_.assign(pending_.begin(), pending_.end());
    pending_.clear();
    asio::async_write(socket_, asio::buffer(inflight_),
                      [self = shared_from_this()](error_code ec, std::size_t n) {
                        self->writing_ = false;
                        if (self->dead_) return;
                        if (ec) {
                          // The session end is gone: abort the vsock connection too.
                          self->backend_.mux().reset(self->id_);
                          self->backend_.forget(self->id_);
                          self->close();
                          self->backend_.pump_rx();
                          return;
                        }
                        // Written bytes are the guest's credit back (n <= buf_alloc).
                        (void)self->backend_.mux().consumed(self->id_, static_cast<uint32_t>(n));
                        self->backend_.pump_rx();
                        self->write_next();
                      });
  }

  static asio::awaitable<void> read_loop(std::shared_ptr<ConnPump> self) {
    std::vector<uint8_t> buf(kReadChunk);
    VsockMux& mux = self->backend_.mux();
    while (!self->dead_) {
      const VsockConnection* conn = mux.find(self->id_);
      if (conn == nullptr) break;
      if (conn->tx_pending() >= kHighWater) {
        // Wait for the guest to take some (pump_rx wakes us) instead of buffering more.
        error_code ignored;
        self->wake_.expires_at(asio::steady_timer::time_point::max());
        co_await self->wake_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        continue;
      }
      error_code ec;
      const std::size_t n = co_await self->socket_.async_read_some(
          asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      if (self->dead_) break;
      if (ec) {
        // EOF (the GuestLink closed) or an error: graceful vsock close; the guest's RST ends
        // it. A guest that never answers must not pin the connection: force it after a while.
        (void)mux.shutdown(self->id_);
        self->backend_.pump_rx();
        asio::steady_timer linger(self->socket_.get_executor(), kShutdownLinger);
        error_code ignored;
        co_await linger.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        if (!self->dead_ && mux.find(self->id_) != nullptr) {
          mux.reset(self->id_);
          self->backend_.forget(self->id_);
          self->close();
          self->backend_.pump_rx();
        }
        break;
      }
      if (!mux.send(self->id_, std::span<const uint8_t>(buf.data(), n))) {
        mux.reset(self->id_);
        self->backend_.forget(self->id_);
        self->close();
        self->backend_.pump_rx();
        break;
      }
      self->backend_.pump_rx();
    }
  }

  VhostUserBackend& backend_;
  ConnId id_;
  LocalSocket socket_;
  asio::steady_timer wake_;
  std::deque<uint8_t> pending_;  // guest bytes not yet written; bounded by our credit
  std::vector<uint8_t> inflight_;
  bool writing_ = false;
  bool dead_ = false;
  bool guest_done_sending_ = false;
  bool half_closed_ = false;
};

VhostUserBackend::VhostUserBackend(asio::io_context& io, BackendOptions options,
                                   LinkFactory on_link)
    : io_(io),
      options_([&] {
        options.mux.guest_cid = options.guest_cid;
        return std::move(options);
      }()),
      on_link_(std::move(on_link)),
      device_(options_.mux, *this) {
  device_.mux().listen(options_.port);
}

VhostUserBackend::~VhostUserBackend() = default;

Status VhostUserBackend::start() {
  namespace fs = std::filesystem;
  const std::string& path = options_.path;
  if (!fs::path(path).parent_path().empty()) {
    std::error_code ignored;
    fs::create_directories(fs::path(path).parent_path(), ignored);
  }
  std::error_code exists_ec;
  if (fs::exists(fs::symlink_status(path, exists_ec))) {
    LocalSocket probe(io_);
    error_code ec;
    probe.connect(asio::local::stream_protocol::endpoint(path), ec);
    if (!ec)
      return make_error(EADDRINUSE, "vhost-user socket " + path +
                                        " is in use by a live process; stop it or pick another");
    // INVARIANT: raw unlink of a socket file nobody answers on (probed just above), so a
    // crashed predecessor's leftover cannot block bind.
    ::unlink(path.c_str());
  }
  error_code ec;
  acceptor_.emplace(io_);
  acceptor_->open(asio::local::stream_protocol(), ec);
  if (!ec) acceptor_->bind(asio::local::stream_protocol::endpoint(path), ec);
  if (!ec) acceptor_->listen(1, ec);
  if (ec) {
    acceptor_.reset();
    return make_error(ec.value(), "vhost-user socket " + path + ": " + ec.message());
  }
  spawn_detached(io_, accept_loop(), "listener");
  spdlog::info("vhost-user-vsock back-end on {} (guest cid {}, port {})", path, options_.guest_cid,
               options_.port);
  return {};
}

void VhostUserBackend::stop() {
  if (acceptor_) {
    error_code ignored;
    acceptor_->close(ignored);
  }
  if (frontend_) {
    error_code ignored;
    frontend_->close(ignored);
  }
  disconnect();
  // The socket file is ours since start(); the acceptor object stays (closed) because the
  // accept loop may still be finishing on it.
  if (acceptor_ && !unlinked_) {
    unlinked_ = true;
    // INVARIANT: raw unlink of the socket file start() bound; once only.
    ::unlink(options_.path.c_str());
  }
}

asio::awaitable<void> VhostUserBackend::accept_loop() {
  auto self = shared_from_this();
  while (acceptor_ && acceptor_->is_open()) {
    error_code ec;
    LocalSocket socket =
        co_await acceptor_->async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted) break;
    if (ec) {
      spdlog::warn("vhost-user accept on {}: {}", options_.path, ec.message());
      continue;
    }
    // One front-end at a time: serve it to the end, then take the next.
    co_await serve(std::make_shared<LocalSocket>(std::move(socket)));
  }
}

asio::awaitable<void> VhostUserBackend::serve(std::shared_ptr<LocalSocket> socket) {
  frontend_ = socket;
  spdlog::info("vhost-user front-end connected on {}", options_.path);
  std::string why = "closed";
  while (socket->is_open()) {
    std::array<uint8_t, kHeaderSize> raw{};
    std::vector<UniqueFd> fds;
    if (auto s = co_await read_exact(*socket, raw.data(), raw.size(), fds); !s) {
      why = s.error().context;
      break;
    }
    auto header = parse_header(raw);
    if (!header) {
      why = "bad message header: " + header.error().context;
      break;
    }
    std::vector<uint8_t> payload(header->size);
    if (auto s = co_await read_exact(*socket, payload.data(), payload.size(), fds); !s) {
      why = s.error().context;
      break;
    }
    auto message = parse_body(*header, payload, std::move(fds));
    if (!message) {
      // Unknown or malformed request: refuse it and stay in sync (the payload was read).
      spdlog::warn("vhost-user request {} refused: {}", header->request, message.error().context);
      continue;
    }
    // Asio throws when an fd cannot be watched (a front-end passing, say, a regular file as a
    // kick eventfd): that ends this front-end, never the listener or the daemon.
    Result<std::optional<std::vector<uint8_t>>> reply = make_error(EINVAL, "");
    try {
      reply = handle(*message);
    } catch (const std::exception& e) {
      reply = make_error(
          EINVAL, std::string("request ") + std::to_string(header->request) + ": " + e.what());
    }
    if (!reply) {
      why = reply.error().context;
      break;
    }
    if (*reply) {
      error_code ec;
      co_await asio::async_write(*socket, asio::buffer(**reply),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        why = "reply: " + ec.message();
        break;
      }
    }
  }
  spdlog::info("vhost-user front-end on {} gone ({}): resetting every guest connection",
               options_.path, why);
  error_code ignored;
  socket->close(ignored);
  if (frontend_ == socket) frontend_.reset();
  disconnect();
}

Result<std::optional<std::vector<uint8_t>>> VhostUserBackend::handle(Message& m) {
  using Reply = std::optional<std::vector<uint8_t>>;
  auto vring = [&](uint32_t index) -> Result<Virtqueue*> {
    Virtqueue* q = device_.queue(index);
    if (q == nullptr) return make_error(EINVAL, "vhost-user: no vring " + std::to_string(index));
    return q;
  };
  switch (m.request) {
    case Request::get_features:
      return Reply{encode_reply_u64(m.request, kOfferedFeatures)};
    case Request::set_features: {
      features_ = std::get<uint64_t>(m.payload) & kOfferedFeatures;
      return Reply{};
    }
    case Request::get_protocol_features:
      return Reply{encode_reply_u64(m.request, kOfferedProtocol)};
    case Request::set_protocol_features:
      protocol_features_ = std::get<uint64_t>(m.payload) & kOfferedProtocol;
      return Reply{};
    case Request::get_queue_num:
      return Reply{encode_reply_u64(m.request, VsockDevice::kQueueCount)};
    case Request::set_owner:
      return Reply{};
    case Request::reset_owner:
      disconnect();
      return Reply{};
    case Request::set_mem_table: {
      const auto& table = std::get<MemoryTable>(m.payload);
      auto memory = GuestMemory::map(table.regions, std::move(m.fds));
      if (!memory) return make_error(memory.code(), "SET_MEM_TABLE: " + memory.error().context);
      device_.set_memory(std::move(*memory));
      return Reply{};
    }
    case Request::set_vring_num: {
      const auto& s = std::get<VringState>(m.payload);
      auto q = vring(s.index);
      if (!q) return q.error();
      if (auto r = (*q)->set_size(s.num); !r) return r.error();
      device_.forget_held_chains();
      return Reply{};
    }
    case Request::set_vring_addr: {
      const auto& a = std::get<VringAddr>(m.payload);
      auto q = vring(a.index);
      if (!q) return q.error();
      if (auto r = (*q)->set_addresses({a.desc, a.avail, a.used}); !r) return r.error();
      return Reply{};
    }
    case Request::set_vring_base: {
      const auto& s = std::get<VringState>(m.payload);
      auto q = vring(s.index);
      if (!q) return q.error();
      if (s.num > 0xffff) return make_error(EINVAL, "SET_VRING_BASE past 16 bits");
      (*q)->set_base(static_cast<uint16_t>(s.num));
      return Reply{};
    }
    case Request::get_vring_base: {
      const auto& s = std::get<VringState>(m.payload);
      auto q = vring(s.index);
      if (!q) return q.error();
      stop_ring(s.index);
      return Reply{encode_reply_vring_state(m.request, VringState{s.index, (*q)->base()})};
    }
    case Request::set_vring_kick: {
      const auto& f = std::get<VringFile>(m.payload);
      auto q = vring(f.index);
      if (!q) return q.error();
      // Without protocol features a ring is enabled as soon as it is started (kicked).
      if (!(features_ & kFeatureProtocolFeatures)) (*q)->set_enabled(true);
      if (f.has_fd) {
        start_kick(f.index, std::move(m.fds.front()));
      } else {
        spdlog::warn("vhost-user: vring {} without a kick fd (polling) is not supported", f.index);
      }
      on_kick(f.index);  // buffers the driver queued before we were listening
      return Reply{};
    }
    case Request::set_vring_call: {
      const auto& f = std::get<VringFile>(m.payload);
      if (!vring(f.index)) return make_error(EINVAL, "SET_VRING_CALL: no such vring");
      calls_[f.index] = f.has_fd ? std::move(m.fds.front()) : UniqueFd{};
      return Reply{};
    }
    case Request::set_vring_err:
      return Reply{};  // we report errors by breaking the queue; the fd is simply closed
    case Request::set_vring_enable: {
      const auto& s = std::get<VringState>(m.payload);
      auto q = vring(s.index);
      if (!q) return q.error();
      (*q)->set_enabled(s.num != 0);
      if (s.num != 0) on_kick(s.index);
      return Reply{};
    }
    case Request::get_config: {
      const auto& c = std::get<ConfigSpace>(m.payload);
      return Reply{encode_reply_config(c, vsock_config_space(options_.guest_cid))};
    }
  }
  return make_error(ENOSYS, "vhost-user request not handled");
}

void VhostUserBackend::start_kick(uint32_t index, UniqueFd fd) {
  if (kicks_[index]) {
    error_code ignored;
    kicks_[index]->close(ignored);
  }
  auto sd = std::make_shared<asio::posix::stream_descriptor>(io_, fd.release());
  kicks_[index] = sd;
  auto loop = [](std::shared_ptr<VhostUserBackend> self, uint32_t index,
                 std::shared_ptr<asio::posix::stream_descriptor> sd) -> asio::awaitable<void> {
    uint64_t count = 0;
    while (sd->is_open()) {
      error_code ec;
      // An eventfd read is always 8 bytes: the accumulated kick count, which we do not need.
      co_await sd->async_read_some(asio::buffer(&count, sizeof count),
                                   asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      if (self->kicks_[index] != sd) break;  // replaced by a newer SET_VRING_KICK
      self->on_kick(index);
    }
  };
  spawn_detached(io_, loop(shared_from_this(), index, sd), "kick watcher");
}

void VhostUserBackend::stop_ring(uint32_t index) {
  if (kicks_[index]) {
    error_code ignored;
    kicks_[index]->close(ignored);
    kicks_[index].reset();
  }
  device_.queue(index)->set_enabled(false);
  device_.forget_held_chains();
  // Stopping TX means the driver was reset (guest reboot, module unload) or the VM was paused
  // (QMP stop also stops the rings): our sockets go, and the guest is told, for the pause case.
  if (index == VsockDevice::kTxQueue) device_.mux().reset_all_telling_guest();
}

void VhostUserBackend::on_kick(uint32_t index) {
  uint32_t mask = 0;
  if (index == VsockDevice::kTxQueue) mask = device_.on_tx_kick();
  if (index == VsockDevice::kRxQueue) mask = device_.fill_rx();
  notify(mask);
  for (auto& [id, pump] : pumps_) pump->wake();
}

void VhostUserBackend::pump_rx() {
  notify(device_.fill_rx());
  for (auto& [id, pump] : pumps_) pump->wake();
}

void VhostUserBackend::notify(uint32_t mask) {
  for (uint32_t i = 0; i < VsockDevice::kQueueCount; ++i) {
    if (!(mask & (1u << i)) || !calls_[i]) continue;
    const uint64_t one = 1;
    // INVARIANT: raw write of 8 bytes to an eventfd QEMU gave us (SET_VRING_CALL); it never
    // blocks short of 2^64-1 pending signals, and a failure only loses one interrupt.
    if (::write(calls_[i].get(), &one, sizeof one) < 0) {
      spdlog::debug("vhost-user: call eventfd {}: {}", i, std::strerror(errno));
    }
  }
}

void VhostUserBackend::forget(ConnId id) {
  pumps_.erase(id);
}

void VhostUserBackend::disconnect() {
  for (auto& kick : kicks_) {
    if (!kick) continue;
    error_code ignored;
    kick->close(ignored);
    kick.reset();
  }
  for (auto& call : calls_) call.reset();
  features_ = 0;
  protocol_features_ = 0;
  device_.reset();  // every sink hears on_reset and closes its session socket
  for (auto& [id, pump] : pumps_) pump->close();
  pumps_.clear();
}

std::shared_ptr<StreamSink> VhostUserBackend::on_accept(ConnId id, uint32_t guest_port,
                                                        uint32_t host_port) {
  int pair[2] = {-1, -1};
  // INVARIANT: raw socketpair; both fds are owned by Asio sockets right below (CLOEXEC so no
  // child inherits a session).
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    spdlog::warn("vhost-user: socketpair for a guest connection: {}", std::strerror(errno));
    return nullptr;  // the guest gets an RST
  }
  error_code ec;
  Socket link_side(io_);
  link_side.assign(asio::generic::stream_protocol(AF_UNIX, SOCK_STREAM), pair[0], ec);
  if (ec) {
    // INVARIANT: raw close of the socketpair fds no Asio object took ownership of.
    ::close(pair[0]);
    ::close(pair[1]);
    return nullptr;
  }
  LocalSocket pump_side(io_);
  pump_side.assign(asio::local::stream_protocol(), pair[1], ec);
  if (ec) {
    ::close(pair[1]);  // INVARIANT: pair[0] is owned by link_side now; pair[1] by no one
    return nullptr;
  }
  auto pump = std::make_shared<ConnPump>(*this, id, std::move(pump_side));
  pumps_[id] = pump;
  pump->start(io_);
  on_link_(std::move(link_side), "vhost-user:" + options_.path +
                                     " vsock:" + std::to_string(options_.guest_cid) + ":" +
                                     std::to_string(guest_port) + "->" + std::to_string(host_port));
  return pump;
}

}  // namespace bridge::vhost_user
