// bridge-guest: serves the VM's filesystems and displays to bridge-host.
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "bridge-guest/engines/engine_factory.h"
#include "bridge-guest/guest_session.h"
#include "bridge-guest/ivshmem.h"
#include "common/cli.h"
#include "common/logging.h"

namespace {

constexpr const char* kProgram = "bridge-guest";
constexpr const char* kUsage = R"(Usage: bridge-guest [OPTIONS] --export NAME=ENGINE:SOURCE[,ro] ...

Serves filesystems and displays to bridge-host, which shows each export as the
scheme NAME (/scheme/NAME on Linux hosts, NAME: on Redox).

Options:
  --connect ENDPOINT   where bridge-host listens: vsock:CID:PORT (default vsock:2:5151),
                       unix:PATH (local mode) or tcp:127.0.0.1:PORT (debugging only)
  --export SPEC        NAME=ENGINE:SOURCE[,ro]; repeatable. ENGINE:
                         ext2fs  ext2/3/4 image or block device through libext2fs
                                 (read-write only when cleanly unmounted; ,ro forces
                                 read-only)
                         mount   a directory, served as it is; or a block device or
                                 image file, mounted by the guest (nodev,nosuid) under
                                 /run/redox-bridge/mnt and unmounted on exit. Any Linux
                                 filesystem, served in parallel. Paths stay inside
                                 SOURCE (openat2: Linux 5.6+, else no start); device
                                 nodes, fifos and sockets are not opened; ,ro mounts
                                 read-only and refuses writes (EROFS)
                         btrfs   as mount, on btrfs only, plus subvolumes and
                                 snapshots (bridgectl subvol ...)
                         drm     a display: SOURCE is a DRM card (/dev/dri/cardN) or
                                 'auto' (the first card with a connected connector).
                                 NAME 'display' becomes display.<driver>: bochs-drm ->
                                 display.bochs, virtio_gpu -> display.virtio-gpu,
                                 others with '_' as '-' and no '-drm' suffix. Becomes
                                 DRM master (warns when another process is)
  --region SOURCE      the shared region for file data and display pixels (default auto):
                         auto  on unix: links the memfd bridge-host passes with its
                               hello; otherwise the first ivshmem-plain PCI device
                               (1af4:1110), enabled and its BAR2 (resource2) mapped
                               (root). None found: data travels inline (not an error)
                         none  always inline
                         PATH  map this file: in a VM, the resource2 of a chosen
                               ivshmem device (not on unix: links)
                       The region is used only when bridge-host announces the same size.
  --name NAME          guest name shown by 'bridgectl status' (default: hostname)
  --workers N          worker threads for requests (default 4)
  --log-level LEVEL    trace|debug|info|warn|error (default info)
  --help, --version

The guest dials the host and redials with backoff when the host goes away.
SIGTERM or SIGINT: finish running requests, flush every export, exit 0.
)";

struct Config {
  bridge::guest::SessionOptions session;
  std::string region = "auto";
  std::vector<bridge::guest::ExportSpec> exports;
  std::string log_level = "info";
};

// Returns an exit status when the program should stop (help, version, bad usage).
std::optional<int> parse_args(int argc, char** argv, Config& cfg) {
  using namespace bridge;
  cfg.session.host = *parse_connect_endpoint("vsock:2:5151");
  cfg.session.name = bridge::machine_name("guest");
  ArgReader args(argc, argv);
  while (!args.done()) {
    if (args.flag("--help")) return std::fputs(kUsage, stdout), 0;
    if (args.flag("--version")) return std::puts("bridge-guest 0.1.0 (protocol 1.0)"), 0;
    if (auto v = args.option("--connect")) {
      if (!*v) return fail_usage(kProgram, v->error().context);
      auto ep = parse_connect_endpoint(**v);
      if (!ep) return fail_usage(kProgram, ep.error().context);
      cfg.session.host = *ep;
    } else if (auto v = args.option("--export")) {
      if (!*v) return fail_usage(kProgram, v->error().context);
      auto spec = guest::parse_export_spec(**v);
      if (!spec) return fail_usage(kProgram, spec.error().context);
      cfg.exports.push_back(*spec);
    } else if (auto v = args.option("--region")) {
      if (!*v) return fail_usage(kProgram, v->error().context);
      cfg.region = **v;
      if (cfg.region.empty()) return fail_usage(kProgram, "--region: give auto, none or a PATH");
    } else if (auto v = args.option("--name")) {
      if (!*v) return fail_usage(kProgram, v->error().context);
      cfg.session.name = **v;
    } else if (auto v = args.option("--workers")) {
      if (!*v) return fail_usage(kProgram, v->error().context);
      int n = std::atoi((**v).c_str());
      if (n < 1 || n > 256) return fail_usage(kProgram, "--workers must be 1..256");
      cfg.session.workers = static_cast<unsigned>(n);
    } else if (auto v = args.option("--log-level")) {
      if (!*v) return fail_usage(kProgram, v->error().context);
      cfg.log_level = **v;
    } else {
      return fail_usage(kProgram, "unknown argument '" + std::string(args.next()) + "'");
    }
  }
  if (cfg.exports.empty())
    return fail_usage(kProgram, "nothing to serve: give at least one --export");
  // Equal sizes are all the hellos compare: a file that is not the memory the host maps would
  // pass that check and corrupt data. On unix: links the host's region arrives as a fd.
  if (cfg.region != "auto" && cfg.region != "none" &&
      cfg.session.host.kind == Endpoint::Kind::unix_socket)
    return fail_usage(kProgram,
                      "--region PATH is for VMs (an ivshmem BAR); on unix: links the region "
                      "comes from bridge-host: use auto or none");
  return std::nullopt;
}

// Mounts the guest makes for its exports must not outlive it, even after SIGKILL: in a mount
// namespace of its own, the kernel detaches them when the last process in it exits (and the loop
// devices `mount` set up with autoclear go with them).
void enter_private_mount_namespace(const std::vector<bridge::guest::ExportSpec>& exports) {
  bool mounts = false;
  for (const auto& e : exports) mounts = mounts || e.engine == "mount" || e.engine == "btrfs";
  if (!mounts) return;
  // INVARIANT: unshare/mount are plain syscalls; failure leaves the process where it was.
  if (::unshare(CLONE_NEWNS) != 0 ||
      ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    spdlog::warn("no private mount namespace ({}): mounts of a killed guest will stay behind",
                 std::strerror(errno));
}

// Maps the region --region names, once: a file, or in a VM the ivshmem device. Local mode's
// memfd arrives per connection instead (GuestSession).
bridge::Status setup_region(Config& cfg) {
  using namespace bridge;
  using guest::RegionSource;
  auto& s = cfg.session;
  if (cfg.region == "none") {
    s.region_source = RegionSource::none;
    return {};
  }
  if (cfg.region != "auto") {
    auto mapped = SharedRegion::map_file(cfg.region);
    if (!mapped) return make_error(mapped.code(), "--region: " + mapped.error().context);
    s.region_source = RegionSource::fixed;
    s.fixed_region = std::make_shared<const SharedRegion>(std::move(*mapped));
    return {};
  }
  s.region_source = RegionSource::automatic;
  if (s.host.kind == Endpoint::Kind::unix_socket) return {};
  auto ivshmem = guest::map_ivshmem();
  if (!ivshmem) {
    spdlog::warn("ivshmem device found but not usable ({}); bulk data travels inline",
                 ivshmem.error().context);
  } else if (!*ivshmem) {
    spdlog::info("no ivshmem-plain device: no shared region; bulk data travels inline");
  } else {
    spdlog::info("mapped the ivshmem region: {} MiB ({})", (*ivshmem)->size() >> 20,
                 (*ivshmem)->what());
    s.fixed_region = std::make_shared<const SharedRegion>(std::move(**ivshmem));
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  using namespace bridge;
  Config cfg;
  if (auto status = parse_args(argc, argv, cfg)) return *status;
  if (auto st = setup_logging(kProgram, cfg.log_level); !st)
    return fail_usage(kProgram, st.error().context);

  const uint64_t boot_id = std::random_device{}() | (uint64_t{std::random_device{}()} << 32);
  const auto boot_tag =
      static_cast<uint16_t>(boot_id | 1);  // never 0: 0 would match zeroed handles
  if (auto st = setup_region(cfg); !st) return fail(kProgram, st.error());
  enter_private_mount_namespace(cfg.exports);
  std::vector<std::unique_ptr<guest::ServedExport>> exports;
  for (const auto& spec : cfg.exports) {
    if (spec.engine == "drm") {
      auto display = guest::open_display(spec);
      if (!display) return fail(kProgram, display.error());
      spdlog::info("export '{}': drm on {} (driver {})", display->spec.name, display->spec.source,
                   display->device->caps().driver);
      // No shared region yet: the region hook-up passes it here; until then requests that
      // carry pixels are answered ENOTSUP.
      auto dispatch = std::make_unique<guest::DrmDispatch>(std::move(display->device));
      exports.push_back(std::make_unique<guest::ServedExport>(std::move(display->spec),
                                                              std::move(dispatch), boot_tag));
      continue;
    }
    auto engine = guest::open_engine(spec);
    if (!engine) return fail(kProgram, engine.error());
    spdlog::info("export '{}': {} on {}{}", spec.name, spec.engine, spec.source,
                 (*engine)->read_only() ? " (read-only)" : "");
    exports.push_back(
        std::make_unique<guest::ServedExport>(spec, std::move(engine).value(), boot_tag));
  }
  guest::Dispatcher dispatcher(std::move(exports), boot_id);

  asio::io_context io(1);
  guest::GuestSession session(io, dispatcher, cfg.session);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&session](error_code ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping", sig);
    session.stop();
  });
  asio::co_spawn(io, session.run(), [&signals](std::exception_ptr e) {
    error_code ignored;
    signals.cancel(ignored);
    if (e) std::rethrow_exception(e);
  });
  spdlog::info("bridge-guest '{}' dialing {}", cfg.session.name, cfg.session.host.str());
  io.run();
  session.drain();
  spdlog::info("flushed all exports; bye");
  return 0;
}
