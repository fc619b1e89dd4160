// bridge-host: exposes every export of every connected guest as a scheme.
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "bridge-host/frontends/display/display_frontend.h"
#include "bridge-host/frontends/fuse/fuse_frontend.h"
#include "bridge-host/host_daemon.h"
#include "common/cli.h"
#include "common/logging.h"

namespace {

constexpr const char* kProgram = "bridge-host";
constexpr const char* kUsage = R"(Usage: bridge-host [OPTIONS]

Accepts bridge-guest connections and shows each of their exports as a scheme:
/scheme/NAME/... through FUSE on Linux hosts.

Options:
  --listen ENDPOINT    where guests connect; repeatable. One of
                         unix:PATH        local mode (default unix:/run/redox-bridge/guest.sock)
                         vsock:PORT       AF_VSOCK (needs vhost-vsock in the host kernel)
                         hybrid:PATH      guests arrive on the unix socket PATH_5151
                                          (Firecracker / cloud-hypervisor convention)
                         vhost-user:PATH[,cid=N]
                                          bridge-host is the vhost-user-vsock device for
                                          QEMU (-chardev socket,path=PATH -device
                                          vhost-user-vsock-pci; guest RAM must be a shared
                                          memory-backend-memfd); guest CID N (default 3)
                         tcp:127.0.0.1:PORT  loopback debugging only
  --mount DIR          FUSE scheme root (default /scheme)
  --no-mount           do not mount; schemes are reachable through bridgectl only
  --control PATH       unix socket for bridgectl (default /run/redox-bridge/control.sock)
  --display-dir DIR    where display clients connect: DIR/display.<driver>.sock, one per
                       display scheme (default /run/redox-bridge)
  --name NAME          host name sent to guests (default: hostname)
  --call-timeout SECS  a guest that does not answer a request in time fails it with
                       ETIMEDOUT (default 30)
  --log-level LEVEL    trace|debug|info|warn|error (default info)
  --help, --version

SIGTERM or SIGINT: unmount, close every guest link, exit 0.
)";

struct Config {
  bridge::host::HostOptions host;
  bridge::host::FuseOptions fuse;
  bridge::host::DisplayFrontendOptions display;
  bool mount = true;
  std::string log_level = "info";
};

std::optional<int> parse_args(int argc, char** argv, Config& cfg) {
  using namespace bridge;
  cfg.host.control_path = "/run/redox-bridge/control.sock";
  cfg.host.link.host_name = bridge::machine_name("host");
  ArgReader args(argc, argv);
  auto value = [&](std::string_view name) -> std::optional<Result<std::string>> {
    return args.option(name);
  };
  while (!args.done()) {
    if (args.flag("--help")) return std::fputs(kUsage, stdout), 0;
    if (args.flag("--version")) return std::puts("bridge-host 0.1.0 (protocol 1.0)"), 0;
    if (args.flag("--no-mount")) {
      cfg.mount = false;
      continue;
    }
    std::optional<Result<std::string>> v;
    if ((v = value("--listen"))) {
      if (!*v) return fail_usage(kProgram, v->error().context);
      auto ep = parse_listen_endpoint(**v);
      if (!ep) return fail_usage(kProgram, ep.error().context);
      cfg.host.listen.push_back(*ep);
    } else if ((v = value("--mount"))) {
      if (!*v) return fail_usage(kProgram, v->error().context);
      cfg.fuse.mountpoint = **v;
    } else if ((v = value("--control"))) {
      if (!*v) return fail_usage(kProgram, v->error().context);
      cfg.host.control_path = **v;
    } else if ((v = value("--display-dir"))) {
      if (!*v) return fail_usage(kProgram, v->error().context);
      if ((**v).empty()) return fail_usage(kProgram, "--display-dir needs a directory");
      cfg.display.dir = **v;
    } else if ((v = value("--name"))) {
      if (!*v) return fail_usage(kProgram, v->error().context);
      cfg.host.link.host_name = **v;
    } else if ((v = value("--call-timeout"))) {
      if (!*v) return fail_usage(kProgram, v->error().context);
      int secs = std::atoi((**v).c_str());
      if (secs < 1 || secs > 3600)
        return fail_usage(kProgram, "--call-timeout must be 1..3600 seconds");
      cfg.host.link.call_timeout = std::chrono::seconds(secs);
    } else if ((v = value("--log-level"))) {
      if (!*v) return fail_usage(kProgram, v->error().context);
      cfg.log_level = **v;
    } else {
      return fail_usage(kProgram, "unknown argument '" + std::string(args.next()) + "'");
    }
  }
  if (cfg.host.listen.empty())
    cfg.host.listen.push_back(*parse_listen_endpoint("unix:/run/redox-bridge/guest.sock"));
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace bridge;
  Config cfg;
  if (auto status = parse_args(argc, argv, cfg)) return *status;
  if (auto st = setup_logging(kProgram, cfg.log_level); !st)
    return fail_usage(kProgram, st.error().context);

  SchemeRegistry registry;
  asio::io_context io(1);
  // Before any guest can say hello, so that no display scheme misses its socket.
  host::DisplayFrontend display(registry, cfg.display);
  display.attach_to_registry();
  host::HostDaemon daemon(io, registry, cfg.host);
  if (auto st = daemon.start(); !st) return fail(kProgram, st.error());

  std::unique_ptr<host::FuseFrontend> fuse;
  if (cfg.mount) {
    auto started = host::FuseFrontend::start(registry, cfg.fuse);
    if (!started) return fail(kProgram, started.error());
    fuse = std::move(started).value();
    spdlog::info("schemes mounted at {}", fuse->mountpoint());
  }

  // FUSE threads may be waiting on guest answers that this io_context delivers, so the mount
  // is torn down on a thread of its own while the io_context keeps running; only then do the
  // links close.
  std::thread stopper;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](error_code ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping", sig);
    stopper = std::thread([&] {
      fuse.reset();
      display.stop();  // its sessions detach through guest links that are still running
      asio::post(io, [&] {
        daemon.stop();
        io.stop();
      });
    });
  });
  io.run();
  if (stopper.joinable()) stopper.join();
  spdlog::info("stopped");
  return 0;
}
