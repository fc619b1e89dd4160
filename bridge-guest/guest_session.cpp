#include "bridge-guest/guest_session.h"

#include <spdlog/spdlog.h>

#include "schema/frame.h"

namespace bridge::guest {
namespace {

constexpr std::size_t kCanceledMax = 4096;  // a hostile or buggy host cannot grow it unbounded

// Both sides use the region only when both hellos name the same size (bridge.capnp, Hello).
std::shared_ptr<const SharedRegion> agreed_region(std::shared_ptr<const SharedRegion> mine,
                                                  wire::RegionInfo::Reader host) {
  const uint64_t my_size = mine ? mine->size() : 0;
  if (my_size == 0 && host.getSize() == 0) return nullptr;
  if (my_size != host.getSize()) {
    spdlog::info(
        "shared region not used: the host announced {} bytes, this guest mapped {}; "
        "bulk data travels inline",
        host.getSize(), my_size);
    return nullptr;
  }
  if (mine->token() != host.getToken()) {
    spdlog::warn(
        "shared region not used: {} is not the host's region (it holds {:#x}, the host wrote "
        "{:#x}); bulk data travels inline",
        mine->what(), mine->token(), host.getToken());
    return nullptr;
  }
  spdlog::info("shared region: {} MiB ({})", my_size >> 20, mine->what());
  return mine;
}

}  // namespace

GuestSession::GuestSession(asio::io_context& io, Dispatcher& dispatcher, SessionOptions options)
    : io_(io),
      dispatcher_(dispatcher),
      options_(std::move(options)),
      pool_(options_.workers),
      backoff_timer_(io) {
  for (std::size_t i = 0; i < dispatcher_.export_count(); ++i)
    strands_.push_back(asio::make_strand(pool_.get_executor()));
}

GuestSession::~GuestSession() {
  drain();
}

void GuestSession::drain() {
  pool_.join();
}

void GuestSession::stop() {
  stopping_ = true;
  backoff_timer_.cancel();
  if (current_) current_->close();
}

asio::awaitable<void> GuestSession::run() {
  auto backoff = options_.backoff_min;
  while (!stopping_) {
    auto socket = co_await connect_to(options_.host);
    if (socket) {
      current_ = std::make_shared<FramedStream>(std::move(*socket));
      auto ended = co_await serve(current_);
      dispatcher_.set_event_sink(nullptr);
      if (ended.ok()) backoff = options_.backoff_min;  // a session that got going resets backoff
      current_->close();
      current_.reset();
      drop_handles();
      if (stopping_) break;
      spdlog::warn("connection to {} ended: {}; redialing", options_.host.str(),
                   ended.ok() ? "host closed it" : ended.error().context);
    } else {
      spdlog::info("host not reachable ({}); retrying in {} ms", socket.error().context,
                   backoff.count());
    }
    backoff_timer_.expires_after(backoff);
    error_code ec;
    co_await backoff_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
  spdlog::info("session stopped");
}

asio::awaitable<GuestSession::RegionPtr> GuestSession::region_for(FramedStream& stream) {
  switch (options_.region_source) {
    case RegionSource::none:
      co_return nullptr;
    case RegionSource::fixed:
      co_return options_.fixed_region;
    case RegionSource::automatic:
      break;
  }
  if (options_.host.kind != Endpoint::Kind::unix_socket) co_return options_.fixed_region;
  // Local mode: the host attaches its memfd to the first byte of its hello.
  auto fd = co_await stream.peek_passed_fd();
  if (!fd) {
    spdlog::warn("no shared region: {}", fd.error().context);
    co_return nullptr;
  }
  if (!*fd) {
    spdlog::info("the host passed no shared region; bulk data travels inline");
    co_return nullptr;
  }
  auto mapped = SharedRegion::map_fd(std::move(*fd), "memfd region from the host");
  if (!mapped) {
    spdlog::warn("cannot map the host's shared region ({}); bulk data travels inline",
                 mapped.error().context);
    co_return nullptr;
  }
  co_return std::make_shared<const SharedRegion>(std::move(*mapped));
}

asio::awaitable<Result<GuestSession::RegionPtr>> GuestSession::exchange_hello(
    FramedStream& stream) {
  // Watchdog: a host that never answers must not hold the session forever.
  asio::steady_timer watchdog(io_, options_.hello_timeout);
  watchdog.async_wait([&stream](error_code ec) {
    if (!ec) stream.close();
  });
  RegionPtr region = co_await region_for(stream);
  capnp::MallocMessageBuilder hello;
  auto mine = hello.initRoot<wire::Message>().initHello();
  dispatcher_.describe(options_.name, region ? region->size() : 0, mine);
  // What our mapping holds where the host wrote its token (RegionInfo.token).
  if (region) mine.getRegion().setToken(region->token());
  stream.send(hello);

  auto reply = co_await stream.read();
  watchdog.cancel();
  if (!reply) co_return make_error(reply.code(), "no hello from host: " + reply.error().context);
  try {
    auto msg = reply->message();
    if (!msg.isHello()) co_return make_error(EPROTO, "host spoke before saying hello");
    auto h = msg.getHello();
    if (h.getMajor() != wire::PROTOCOL_MAJOR) {
      capnp::MallocMessageBuilder bye;
      bye.initRoot<wire::Message>().initGoodbye().setReason(
          "guest speaks protocol " + std::to_string(wire::PROTOCOL_MAJOR) + ".x");
      stream.send(bye);
      co_return make_error(EPROTO, "host speaks protocol " + std::to_string(h.getMajor()) +
                                       ".x, this guest speaks " +
                                       std::to_string(wire::PROTOCOL_MAJOR) +
                                       ".x: upgrade the older side");
    }
    spdlog::info("connected to host '{}' (protocol {}.{}), serving {} export(s)",
                 h.getName().cStr(), h.getMajor(), h.getMinor(), dispatcher_.export_count());
    region = agreed_region(std::move(region), h.getRegion());
  } catch (const kj::Exception& e) {
    co_return make_error(EPROTO, std::string("malformed hello: ") + e.getDescription().cStr());
  }
  co_return region;
}

asio::awaitable<Status> GuestSession::serve(std::shared_ptr<FramedStream> stream) {
  auto region = co_await exchange_hello(*stream);
  if (!region) co_return region.error();
  // Display events go to this connection until it ends (run() clears the sink).
  dispatcher_.set_event_sink(
      [stream](kj::Array<capnp::word> frame) { stream->send(std::move(frame)); });
  while (true) {
    auto frame = co_await stream->read();
    if (!frame) {
      if (frame.code() == ECONNRESET) co_return Status{};
      co_return frame.error();
    }
    on_message(std::move(*frame), stream, *region);
  }
}

void GuestSession::on_message(frame::Frame frame, const std::shared_ptr<FramedStream>& stream,
                              const RegionPtr& region) {
  try {
    auto msg = frame.message();
    switch (msg.which()) {
      case wire::Message::REQUEST: {
        auto index = msg.getRequest().getExport();
        if (index >= dispatcher_.export_count()) index = 0;  // the dispatcher answers NODEV
        if (dispatcher_.export_count() == 0) {
          stream->send(dispatcher_.handle(msg.getRequest(), {region.get()}));
          return;
        }
        schedule(index, std::move(frame), stream, region);
        return;
      }
      case wire::Message::CANCEL: {
        std::lock_guard lock(canceled_mu_);
        if (canceled_.size() >= kCanceledMax) canceled_.clear();
        canceled_.insert(msg.getCancel().getId());
        return;
      }
      case wire::Message::GOODBYE:
        spdlog::warn("host says goodbye: {}", msg.getGoodbye().getReason().cStr());
        stream->close();
        return;
      default:
        spdlog::warn("ignoring unexpected message kind {} from host",
                     static_cast<int>(msg.which()));
    }
  } catch (const kj::Exception& e) {
    spdlog::warn("ignoring malformed message from host: {}", e.getDescription().cStr());
  }
}

void GuestSession::schedule(std::size_t export_index, frame::Frame frame,
                            std::shared_ptr<FramedStream> stream, RegionPtr region) {
  auto job = [this, f = std::move(frame), s = std::move(stream), r = std::move(region)]() mutable {
    run_request(f, *s, r);
  };
  if (dispatcher_.export_at(export_index).parallel()) {
    asio::post(pool_, std::move(job));
  } else {
    asio::post(strands_[export_index], std::move(job));
  }
}

void GuestSession::run_request(frame::Frame& frame, FramedStream& stream, const RegionPtr& region) {
  try {
    auto request = frame.message().getRequest();
    if (take_canceled(request.getId())) {
      stream.send(Dispatcher::canceled(request.getId()));
      return;
    }
    stream.send(dispatcher_.handle(request, ConnectionContext{region.get()}));
  } catch (const kj::Exception& e) {
    spdlog::warn("dropping malformed request: {}", e.getDescription().cStr());
  }
}

bool GuestSession::take_canceled(uint64_t id) {
  std::lock_guard lock(canceled_mu_);
  return canceled_.erase(id) > 0;
}

void GuestSession::drop_handles() {
  // Open files belong to the connection that opened them. Each export's table is cleared on that
  // export's own serialization so a non-thread-safe engine closes them in order.
  for (std::size_t i = 0; i < dispatcher_.export_count(); ++i) {
    auto clear = [this, i] {
      auto dropped = dispatcher_.export_at(i).files().clear();
      if (!dropped.empty()) spdlog::info("closed {} file(s) the host left open", dropped.size());
      // Framebuffers and dumb buffers belong to the connection that made them, too.
      if (auto* display = dispatcher_.export_at(i).display()) display->release_all();
    };
    if (dispatcher_.export_at(i).parallel()) {
      asio::post(pool_, clear);
    } else {
      asio::post(strands_[i], clear);
    }
  }
}

}  // namespace bridge::guest
