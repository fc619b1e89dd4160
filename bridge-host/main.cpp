// bridge-host: exposes every export of every connected guest as a scheme.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include "bridge-host/frontends/display/display_frontend.h"
#include "bridge-host/frontends/fuse/fuse_frontend.h"
#include "bridge-host/host_daemon.h"
#include "bridge-host/vm_supervisor.h"
#include "common/cli.h"
#include "common/logging.h"
#include "vm/vm_spec.h"

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
                         vhost-user:PATH[,cid=N][,region=FILE][,region-size=MiB]
                                          bridge-host is the vhost-user-vsock device for
                                          QEMU (-chardev socket,path=PATH -device
                                          vhost-user-vsock-pci; guest RAM must be a shared
                                          memory-backend-memfd); guest CID N (default 3).
                                          region=FILE: bridge-host creates FILE (e.g.
                                          /dev/shm/redox-bridge/fsvm.region) of region-size
                                          MiB (power of two, default 64) as the VM's shared
                                          region; give QEMU -object memory-backend-file,
                                          id=region,mem-path=FILE,size=<MiB>M,share=on
                                          -device ivshmem-plain,memdev=region
                         tcp:127.0.0.1:PORT  loopback debugging only
  --region-size MiB    local mode: a shared memfd region of MiB per unix: guest connection,
                       passed to the guest with its hello; file reads and writes then
                       travel through it instead of inline (default 64; 0 disables)
  --mount DIR          FUSE scheme root (default /scheme)
  --no-mount           do not mount; schemes are reachable through bridgectl only
  --control PATH       unix socket for bridgectl (default /run/redox-bridge/control.sock)
  --display-dir DIR    where display clients connect: DIR/display.<driver>.sock, one per
                       display scheme (default /run/redox-bridge)
  --name NAME          host name sent to guests (default: hostname)
  --call-timeout SECS  a guest that does not answer a request in time fails it with
                       ETIMEDOUT (default 30)
  --vm 'NAME kernel=FILE [initrd=FILE] [disk=FILE]... [mem=MIB] [cpus=N]
        [vsock=PATH] [display=none|bochs|virtio-gpu] [region=MIB] [append=ARGS...]'
                       boot this VM under QEMU once the listeners are up, restart it
                       with backoff when QEMU exits, stop it on SIGTERM; repeatable.
                       append= takes the rest of the value. vsock= defaults to
                       /run/redox-bridge/vsock.sock (listen there with vhost-user:).
                       QEMU's output goes only to the VM's state directory.
  --vm-state-dir DIR   where VM state directories live (default /run/redox-bridge/vms;
                       bridgectl vm list --state-dir DIR sees them)
  --config FILE        read options from FILE: one per line, without the leading
                       '--' ("listen vhost-user:/run/redox-bridge/vsock.sock,cid=3",
                       "mount /scheme", "vm fs kernel=... disk=..."); '#' starts a
                       comment. Options before and after --config apply in order.
  --log-level LEVEL    trace|debug|info|warn|error (default info)
  --help, --version

SIGTERM or SIGINT: stop the VMs (QMP quit), unmount, close every guest link, exit 0.
)";

struct Config {
  bridge::host::HostOptions host;
  bridge::host::FuseOptions fuse;
  bridge::host::DisplayFrontendOptions display;
  bool mount = true;
  std::string log_level = "info";
  std::vector<bridge::vm::VmSpec> vms;
  bridge::vm::ManagerOptions vm_options;
};

std::optional<int> parse_options(bridge::ArgReader& args, Config& cfg, bool in_file);

// A config file's lines as arguments: "KEY VALUE" becomes "--KEY" "VALUE" (the value is the
// rest of the line, spaces included), a bare "KEY" becomes "--KEY".
bridge::Result<std::vector<std::string>> read_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    int err = errno;
    return bridge::make_error(err, "config file '" + path + "': " + std::strerror(err));
  }
  std::vector<std::string> args;
  std::string line;
  while (std::getline(in, line)) {
    auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    auto last = line.find_last_not_of(" \t\r");
    line = line.substr(first, last - first + 1);
    auto space = line.find_first_of(" \t");
    args.push_back("--" + line.substr(0, space));
    if (space != std::string::npos)
      args.push_back(line.substr(line.find_first_not_of(" \t", space)));
  }
  return args;
}

// --vm 'NAME key=value ...': parsed and validated now, so a bad VM stops bridge-host before it
// binds anything.
std::optional<int> add_vm(const std::string& text, Config& cfg) {
  using namespace bridge;
  auto spec = vm::parse_spec_line(text);
  if (!spec) return fail_usage(kProgram, "--vm: " + spec.error().context);
  if (auto st = vm::validate(*spec); !st) {
    std::string message = "--vm " + spec->name + ": " + st.error().context;
    return st.code() == EINVAL ? fail_usage(kProgram, message)
                               : fail(kProgram, make_error(st.code(), message));
  }
  for (const auto& other : cfg.vms) {
    if (other.name == spec->name)
      return fail_usage(kProgram, "--vm: two VMs named '" + spec->name + "'");
  }
  cfg.vms.push_back(std::move(spec).value());
  return std::nullopt;
}

std::optional<int> parse_args(int argc, char** argv, Config& cfg) {
  cfg.host.control_path = "/run/redox-bridge/control.sock";
  cfg.host.link.host_name = bridge::machine_name("host");
  bridge::ArgReader args(argc, argv);
  if (auto status = parse_options(args, cfg, false)) return status;
  if (cfg.host.listen.empty())
    cfg.host.listen.push_back(*bridge::parse_listen_endpoint("unix:/run/redox-bridge/guest.sock"));
  return std::nullopt;
}

std::optional<int> parse_options(bridge::ArgReader& args, Config& cfg, bool in_file) {
  using namespace bridge;
  auto value = [&](std::string_view name) -> std::optional<Result<std::string>> {
    return args.option(name);
  };
  while (!args.done()) {
    if (!in_file && args.flag("--help")) return std::fputs(kUsage, stdout), 0;
    if (!in_file && args.flag("--version")) return std::puts("bridge-host 0.1.0 (protocol 1.0)"), 0;
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
    } else if ((v = value("--region-size"))) {
      if (!*v) return fail_usage(kProgram, v->error().context);
      char* end = nullptr;
      unsigned long long mib = std::strtoull((**v).c_str(), &end, 10);
      if ((**v).empty() || *end != '\0' || mib > 16384)
        return fail_usage(kProgram, "--region-size must be 0..16384 (MiB)");
      cfg.host.local_region_bytes = static_cast<uint64_t>(mib) << 20;
    } else if ((v = value("--log-level"))) {
      if (!*v) return fail_usage(kProgram, v->error().context);
      cfg.log_level = **v;
    } else if ((v = value("--vm"))) {
      if (!*v) return fail_usage(kProgram, v->error().context);
      if (auto status = add_vm(**v, cfg)) return status;
    } else if ((v = value("--vm-state-dir"))) {
      if (!*v) return fail_usage(kProgram, v->error().context);
      cfg.vm_options.root = **v;
    } else if (!in_file && (v = value("--config"))) {
      if (!*v) return fail_usage(kProgram, v->error().context);
      auto lines = read_config(**v);
      if (!lines) return fail(kProgram, lines.error());
      ArgReader file_args(std::move(lines).value());
      if (auto status = parse_options(file_args, cfg, true)) {
        std::fprintf(stderr, "%s: (in config file %s)\n", kProgram, (**v).c_str());
        return status;
      }
    } else {
      std::string arg(args.next());
      if (in_file) return fail_usage(kProgram, "unknown config line '" + arg.substr(2) + "'");
      return fail_usage(kProgram, "unknown argument '" + arg + "'");
    }
  }
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

  // The listeners are up, so each VM finds its vhost-user socket. Supervisors block (QEMU
  // start-up, QMP), so each runs on a thread of its own, never on the io_context.
  std::vector<std::unique_ptr<host::VmSupervisor>> vms;
  for (const auto& spec : cfg.vms) {
    vms.push_back(std::make_unique<host::VmSupervisor>(cfg.vm_options, spec));
    vms.back()->start();
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
      // VMs first, while the io_context still serves their vhost-user devices (QEMU's
      // shutdown talks to the back-end), then the mount, then the links.
      for (auto& vm : vms) vm->stop();
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
