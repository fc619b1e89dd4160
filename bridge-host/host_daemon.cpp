#include "bridge-host/host_daemon.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>

namespace bridge::host {
namespace {

// The coroutine frame holds the shared_ptr, so the link lives as long as its run() does.
asio::awaitable<void> run_link(std::shared_ptr<GuestLink> link) {
  co_await link->run();
}

}  // namespace

HostDaemon::HostDaemon(asio::io_context& io, SchemeRegistry& registry, HostOptions options)
    : io_(io),
      registry_(registry),
      options_(std::move(options)),
      control_(registry, options_.link.host_name) {}

void HostDaemon::spawn(asio::awaitable<void> task, std::string what) {
  asio::co_spawn(io_, std::move(task), [what = std::move(what)](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("{} failed: {}", what, ex.what());
    }
  });
}

namespace {

// The region file behind QEMU's ivshmem-plain device (-object memory-backend-file,
// mem-path=FILE,share=on): created or resized here, so QEMU and bridge-host map the same pages.
Result<std::shared_ptr<GuestRegion>> make_device_region(const Endpoint& ep) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(ep.region_path).parent_path(), ec);
  UniqueFd fd(::open(ep.region_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return make_error(errno, "create region file " + ep.region_path);
  const uint64_t bytes = ep.region_mib << 20;
  if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0)
    return make_error(errno, "size region file " + ep.region_path);
  auto mapping = SharedRegion::map_fd(std::move(fd), ep.region_path);
  if (!mapping) return mapping.error();
  return std::make_shared<GuestRegion>(std::move(*mapping));
}

}  // namespace

Status HostDaemon::start_vhost_user(const Endpoint& ep) {
  // bridge-host is the device back-end itself: each guest vsock connection to VSOCK_PORT
  // arrives as a stream, like an accepted unix connection.
  vhost_user::BackendOptions vu;
  vu.path = ep.path;
  vu.guest_cid = ep.cid;
  vu.port = wire::VSOCK_PORT;
  // One ivshmem device per VM, so one region and one allocator for all its connections.
  std::shared_ptr<GuestRegion> region;
  if (!ep.region_path.empty()) {
    auto made = make_device_region(ep);
    if (!made) return make_error(made.code(), "--listen " + ep.str() + ": " + made.error().context);
    region = std::move(*made);
    spdlog::info(
        "shared region {} ({} MiB) for {}: start QEMU with -object "
        "memory-backend-file,id=region,mem-path={},size={}M,share=on -device "
        "ivshmem-plain,memdev=region",
        ep.region_path, ep.region_mib, ep.path, ep.region_path, ep.region_mib);
  }
  auto backend = std::make_shared<vhost_user::VhostUserBackend>(
      io_, std::move(vu), [this, region](Socket socket, std::string peer) {
        adopt_guest(std::move(socket), std::move(peer), RegionOffer{region, false});
      });
  if (auto started = backend->start(); !started)
    return make_error(started.code(), "--listen " + ep.str() + ": " + started.error().context);
  backends_.push_back(std::move(backend));
  return {};
}

Status HostDaemon::start() {
  for (const auto& ep : options_.listen) {
    if (ep.kind == Endpoint::Kind::vhost_user) {
      if (auto st = start_vhost_user(ep); !st) return st;
      continue;
    }
    if (!ep.path.empty())
      std::filesystem::create_directories(std::filesystem::path(ep.path).parent_path());
    auto acceptor = listen_on(io_, ep, wire::VSOCK_PORT);
    if (!acceptor) return acceptor.error();
    acceptors_.push_back(std::move(*acceptor));
    spawn(accept_guests(acceptors_.back(), ep), "guest listener " + ep.str());
    spdlog::info("listening for guests on {}", ep.str());
  }
  if (!options_.control_path.empty()) {
    Endpoint ep;
    ep.path = options_.control_path;
    std::filesystem::create_directories(std::filesystem::path(ep.path).parent_path());
    auto acceptor = listen_on(io_, ep, 0);
    if (!acceptor) return acceptor.error();
    ::chmod(ep.path.c_str(), 0600);
    acceptors_.push_back(std::move(*acceptor));
    spawn(accept_control(acceptors_.back()), "control socket");
    spdlog::info("control socket at {}", ep.path);
  }
  return {};
}

void HostDaemon::stop() {
  for (auto& acceptor : acceptors_) {
    error_code ignored;
    acceptor.close(ignored);
  }
  for (auto& backend : backends_) backend->stop();
  for (auto& weak : links_) {
    if (auto link = weak.lock()) link->close();
  }
}

RegionOffer HostDaemon::local_region_offer(const std::string& peer) const {
  if (options_.local_region_bytes == 0) return {};
  auto mapping = SharedRegion::create_memfd(options_.local_region_bytes, "redox-bridge-region");
  if (!mapping) {
    spdlog::warn("{}: no shared region ({}); bulk data travels inline", peer,
                 mapping.error().context);
    return {};
  }
  return {std::make_shared<GuestRegion>(std::move(*mapping)), true};
}

void HostDaemon::adopt_guest(Socket socket, std::string peer, RegionOffer offer) {
  auto link = std::make_shared<GuestLink>(std::make_shared<FramedStream>(std::move(socket)),
                                          registry_, options_.link, peer, std::move(offer));
  std::erase_if(links_, [](const auto& weak) { return weak.expired(); });
  links_.push_back(link);
  spawn(run_link(link), "guest link " + peer);
}

asio::awaitable<void> HostDaemon::accept_guests(Acceptor& acceptor, Endpoint where) {
  while (acceptor.is_open()) {
    error_code ec;
    Socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted) break;
    if (ec) {
      spdlog::warn("accept on {} failed: {}", where.str(), ec.message());
      continue;
    }
    std::string peer = describe_peer(socket);
    spdlog::info("guest connection from {} on {}", peer, where.str());
    // Only a unix: peer can take a fd; hybrid: peers are VMs behind a unix socket.
    RegionOffer offer;
    if (where.kind == Endpoint::Kind::unix_socket) offer = local_region_offer(peer);
    adopt_guest(std::move(socket), std::move(peer), std::move(offer));
  }
}

asio::awaitable<void> HostDaemon::accept_control(Acceptor& acceptor) {
  while (acceptor.is_open()) {
    error_code ec;
    Socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted) break;
    if (ec) continue;
    spawn(control_.serve(std::make_shared<FramedStream>(std::move(socket))), "control client");
  }
}

}  // namespace bridge::host
