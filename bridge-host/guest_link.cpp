#include "bridge-host/guest_link.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <future>
#include <optional>
#include <vector>

#include "common/scheme_name.h"
#include "schemes/remote_display_scheme.h"
#include "schemes/remote_fs_scheme.h"

namespace bridge::host {
namespace {

constexpr unsigned kExportsMax = 64;

// Guest-supplied text the host keeps and shows (`bridgectl status`): bounded, so a hostile guest
// cannot make the host hold megabytes per export.
std::string bounded(capnp::Text::Reader text, std::size_t max) {
  return std::string(text.cStr(), std::min<std::size_t>(text.size(), max));
}

kj::Array<capnp::word> host_hello(const LinkOptions& options, const GuestRegion* region) {
  capnp::MallocMessageBuilder message;
  auto hello = message.initRoot<wire::Message>().initHello();
  hello.setMajor(wire::PROTOCOL_MAJOR);
  hello.setMinor(wire::PROTOCOL_MINOR);
  hello.setRole(wire::Hello::Role::HOST);
  hello.setName(options.host_name);
  hello.setMaxInflight(static_cast<uint32_t>(options.max_inflight));
  if (region) {
    auto info = hello.initRegion();
    info.setSize(region->mapping.size());
    info.setToken(region->mapping.token());
  }
  return frame::encode(message);
}

}  // namespace

GuestLink::GuestLink(std::shared_ptr<FramedStream> stream, SchemeRegistry& registry,
                     LinkOptions options, std::string peer, RegionOffer offer)
    : stream_(std::move(stream)),
      registry_(registry),
      options_(std::move(options)),
      peer_(std::move(peer)),
      offer_(std::move(offer)) {}

asio::awaitable<void> GuestLink::run() {
  Status ended = co_await exchange_hello();
  if (ended) {
    asio::co_spawn(stream_->executor(), watch(shared_from_this()), [](std::exception_ptr e) {
      if (e) spdlog::error("link watchdog failed");
    });
    ended = co_await read_loop();
  }
  stream_->close();
  fail_all(make_error(EIO, "guest '" + guest_name_ + "' disconnected"));
  registry_.mark_offline(this);
  if (ended) {
    spdlog::info("guest '{}' ({}) disconnected; its schemes are offline until it returns",
                 guest_name_, peer_);
  } else {
    spdlog::warn("guest '{}' ({}) dropped: {}", guest_name_.empty() ? "?" : guest_name_, peer_,
                 ended.error().context);
  }
}

asio::awaitable<Status> GuestLink::exchange_hello() {
  const uint64_t offered = offer_.region ? offer_.region->mapping.size() : 0;
  auto hello = host_hello(options_, offer_.region.get());
  if (offered && offer_.pass_fd) {
    // The guest gets its own descriptor; ours stays with the mapping.
    UniqueFd copy(::fcntl(offer_.region->mapping.fd(), F_DUPFD_CLOEXEC, 0));
    if (!copy) spdlog::warn("{}: cannot pass the shared region: dup failed", peer_);
    stream_->send(std::move(hello), std::move(copy));
  } else {
    stream_->send(std::move(hello));
  }
  asio::steady_timer timer(co_await asio::this_coro::executor, options_.hello_timeout);
  timer.async_wait([stream = stream_](error_code ec) {
    if (!ec) stream->close();
  });
  auto reply = co_await stream_->read();
  timer.cancel();
  if (!reply) co_return make_error(reply.code(), "no hello: " + reply.error().context);
  try {
    auto msg = reply->message();
    if (!msg.isHello()) co_return make_error(EPROTO, "first message was not a hello");
    co_return accept_hello(msg.getHello());
  } catch (const kj::Exception& e) {
    co_return make_error(EPROTO, std::string("malformed hello: ") + e.getDescription().cStr());
  }
}

Status GuestLink::accept_hello(wire::Hello::Reader hello) {
  if (hello.getMajor() != wire::PROTOCOL_MAJOR) {
    capnp::MallocMessageBuilder bye;
    bye.initRoot<wire::Message>().initGoodbye().setReason(
        "host speaks protocol " + std::to_string(wire::PROTOCOL_MAJOR) + ".x");
    stream_->send(bye);
    return make_error(EPROTO, "guest speaks protocol " + std::to_string(hello.getMajor()) +
                                  ".x, this host speaks " + std::to_string(wire::PROTOCOL_MAJOR) +
                                  ".x: upgrade the older side");
  }
  if (hello.getRole() != wire::Hello::Role::GUEST)
    return make_error(EPROTO, "peer on a guest listener did not say it is a guest");
  auto name = hello.getName();
  guest_name_ = bounded(name, 64);
  boot_id_ = hello.getBootId();
  if (hello.getExports().size() > kExportsMax)
    return make_error(EPROTO,
                      "guest announced more than " + std::to_string(kExportsMax) + " exports");
  agree_on_region(hello.getRegion().getSize(), hello.getRegion().getToken());
  register_exports(hello.getExports());
  return {};
}

void GuestLink::agree_on_region(uint64_t guest_size, uint64_t guest_token) {
  const uint64_t offered = offer_.region ? offer_.region->mapping.size() : 0;
  constexpr uint64_t kMiB = 1 << 20;
  if (offered == 0) {
    spdlog::info("guest '{}': no shared region on this link; bulk data travels inline",
                 guest_name_);
  } else if (guest_size != offered) {
    spdlog::info(
        "guest '{}': shared region not used: the host offered {} bytes, the guest mapped {}{}; "
        "bulk data travels inline",
        guest_name_, offered, guest_size,
        guest_size == 0 ? " (none: --region none, no ivshmem device, or the fd did not arrive)"
                        : "");
  } else if (guest_token != offer_.region->mapping.token()) {
    spdlog::warn(
        "guest '{}': shared region not used: the guest's {} MiB region is not this host's memory "
        "(its first bytes hold {:#x}, the host wrote {:#x}); check that QEMU's ivshmem "
        "mem-path is the file bridge-host's region= names and that QEMU started after "
        "bridge-host made it; bulk data travels inline",
        guest_name_, guest_size / kMiB, guest_token, offer_.region->mapping.token());
  } else {
    region_ = offer_.region;
    spdlog::info("region: {} MiB shared with guest '{}' ({})", offered / kMiB, guest_name_,
                 region_->mapping.what());
  }
  offer_.region.reset();  // a link that did not agree keeps nothing of it
}

void GuestLink::register_exports(capnp::List<wire::Export>::Reader exports) {
  for (unsigned i = 0; i < exports.size(); ++i) {
    auto exp = exports[i];
    std::string name = exp.getName();
    if (!valid_scheme_name(name)) {
      spdlog::warn("guest '{}': refusing export with invalid scheme name", guest_name_);
      continue;
    }
    auto existing = registry_.info(name);
    if (existing && existing->online && existing->guest != guest_name_) {
      spdlog::warn("guest '{}': scheme '{}' is already served by guest '{}'; ignoring it",
                   guest_name_, name, existing->guest);
      continue;
    }
    if (exp.getKind() == wire::Export::Kind::DISPLAY) {
      register_display(exp, i);
      continue;
    }
    if (exp.getKind() != wire::Export::Kind::FILESYSTEM) {
      spdlog::warn("guest '{}': export '{}' has an unknown kind; ignoring it", guest_name_, name);
      continue;
    }
    SchemeInfo info{name, false,       bounded(exp.getEngine(), 32), exp.getReadOnly(),
                    true, guest_name_, bounded(exp.getNote(), 256)};
    auto scheme = std::make_shared<RemoteFsScheme>(shared_from_this(), static_cast<uint16_t>(i),
                                                   exp.getReadOnly());
    registry_.put(info, scheme, scheme);
    registry_.set_owner(name, this);
    spdlog::info("scheme '{}' online: {} on guest '{}'{}{}", name, info.engine, guest_name_,
                 info.read_only ? " (read-only)" : "", info.note.empty() ? "" : ": " + info.note);
  }
}

void GuestLink::register_display(wire::Export::Reader exp, unsigned index) {
  std::string name = exp.getName();
  SchemeInfo info{name, true,        bounded(exp.getEngine(), 32), false,
                  true, guest_name_, bounded(exp.getNote(), 256)};
  auto scheme = RemoteDisplayScheme::create(shared_from_this(), static_cast<uint16_t>(index), name);
  registry_.put_display(info, std::move(scheme));
  registry_.set_owner(name, this);
  spdlog::info("display scheme '{}' online on guest '{}'", name, guest_name_);
}

asio::awaitable<Status> GuestLink::read_loop() {
  while (true) {
    auto frame = co_await stream_->read();
    if (!frame) {
      if (frame.code() == ECONNRESET) co_return Status{};
      co_return frame.error();
    }
    if (auto st = on_message(std::move(*frame)); !st) co_return st;
  }
}

Status GuestLink::on_message(frame::Frame frame) {
  try {
    auto msg = frame.message();
    switch (msg.which()) {
      case wire::Message::RESPONSE:
        complete(msg.getResponse().getId(), std::move(frame));
        return {};
      case wire::Message::EVENT:
        dispatch_event(msg.getEvent());
        return {};
      case wire::Message::GOODBYE:
        spdlog::warn("guest '{}' says goodbye: {}", guest_name_,
                     msg.getGoodbye().getReason().cStr());
        return make_error(ECONNRESET, "guest said goodbye");
      default:
        return make_error(EPROTO, "guest sent a message only a host may send");
    }
  } catch (const kj::Exception& e) {
    return make_error(EPROTO, std::string("malformed message: ") + e.getDescription().cStr());
  }
}

void GuestLink::on_event(uint16_t export_index, EventHandler handler) {
  std::lock_guard lock(events_mu_);
  handlers_[export_index] = std::move(handler);
}

// Only per-export events (hotplug, vblank, flipDone) go to a handler; the handler checks the
// rest (cookies, connector ids). Unclaimed events are a guest's noise, not an error.
void GuestLink::dispatch_event(wire::Event::Reader event) {
  const auto which = event.which();
  if (which != wire::Event::HOTPLUG && which != wire::Event::VBLANK &&
      which != wire::Event::FLIP_DONE) {
    spdlog::debug("guest '{}': event {} ignored", guest_name_, static_cast<int>(which));
    return;
  }
  EventHandler handler;
  {
    std::lock_guard lock(events_mu_);
    auto it = handlers_.find(event.getExport());
    if (it != handlers_.end()) handler = it->second;
  }
  if (!handler) {
    spdlog::debug("guest '{}': event for export {} that takes no events", guest_name_,
                  event.getExport());
    return;
  }
  handler(event);
}

void GuestLink::complete(uint64_t id, Result<frame::Frame> result) {
  Completion done;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) {
      // Late (timed out, canceled) or invented by a hostile guest: either way, nobody waits.
      spdlog::debug("guest '{}': response for unknown request {}", guest_name_, id);
      return;
    }
    done = std::move(it->second.done);
    pending_.erase(it);
  }
  done(std::move(result));
}

void GuestLink::submit(std::unique_ptr<capnp::MallocMessageBuilder> message, Completion done) {
  uint64_t id = 0;
  std::optional<Error> refused;
  {
    std::lock_guard lock(mu_);
    if (closed_) {
      refused = make_error(EIO, "guest '" + guest_name_ + "' is not connected");
    } else if (pending_.size() >= options_.max_inflight) {
      refused = make_error(EAGAIN, "too many requests in flight to guest '" + guest_name_ + "'");
    } else {
      id = next_id_++;
      pending_.emplace(
          id, Pending{std::move(done), std::chrono::steady_clock::now() + options_.call_timeout});
    }
  }
  if (refused) return done(std::move(*refused));  // outside the lock: completions may call back
  message->getRoot<wire::Message>().getRequest().setId(id);
  stream_->send(*message);
}

Result<frame::Frame> GuestLink::call(std::unique_ptr<capnp::MallocMessageBuilder> message) {
  std::promise<Result<frame::Frame>> promise;
  auto future = promise.get_future();
  submit(std::move(message),
         [&promise](Result<frame::Frame> r) { promise.set_value(std::move(r)); });
  // The watchdog guarantees completion by the deadline, so this wait is bounded.
  return future.get();
}

asio::awaitable<void> GuestLink::watch(std::shared_ptr<GuestLink> self) {
  co_await self->watchdog();
}

asio::awaitable<void> GuestLink::watchdog() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (true) {
    timer.expires_after(std::chrono::milliseconds(250));
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    std::vector<std::pair<uint64_t, Completion>> expired;
    {
      std::lock_guard lock(mu_);
      if (closed_) co_return;
      auto now = std::chrono::steady_clock::now();
      for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->second.deadline > now) {
          ++it;
          continue;
        }
        expired.emplace_back(it->first, std::move(it->second.done));
        it = pending_.erase(it);
      }
    }
    for (auto& [id, done] : expired) {
      capnp::MallocMessageBuilder cancel;
      cancel.initRoot<wire::Message>().initCancel().setId(id);
      stream_->send(cancel);
      spdlog::warn("guest '{}': request {} timed out after {} ms", guest_name_, id,
                   options_.call_timeout.count());
      done(make_error(ETIMEDOUT, "guest '" + guest_name_ + "' did not answer in time"));
    }
  }
}

void GuestLink::fail_all(const Error& error) {
  std::unordered_map<uint64_t, Pending> failed;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    failed.swap(pending_);
  }
  for (auto& [id, pending] : failed) pending.done(error);
}

}  // namespace bridge::host
