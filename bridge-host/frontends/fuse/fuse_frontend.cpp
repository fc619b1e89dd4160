#include "bridge-host/frontends/fuse/fuse_frontend.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "bridge-host/frontends/fuse/fuse_lib.h"
#include "bridge-host/frontends/fuse/fuse_mounts.h"
#include "bridge-host/frontends/fuse/fuse_operations.h"
#include "bridge-host/frontends/fuse/fuse_state.h"

namespace bridge::host {
namespace {

using fuse_impl::MountDevice;

constexpr auto kInitTimeout = std::chrono::seconds(10);
constexpr unsigned kReadaheadKb = 1024;  // matches the 1 MiB request cap

// libfuse reports mount failures and the like through its log hook; route them to our log.
void log_from_libfuse(fuse_log_level level, const char* fmt, va_list ap) {
  char line[512];
  std::vsnprintf(line, sizeof line, fmt, ap);
  std::string_view text(line);
  if (text.ends_with('\n')) text.remove_suffix(1);
  if (level <= FUSE_LOG_ERR) {
    spdlog::error("libfuse: {}", text);
  } else if (level <= FUSE_LOG_NOTICE) {
    spdlog::warn("libfuse: {}", text);
  } else {
    spdlog::debug("libfuse: {}", text);
  }
}

std::string mount_options(const FuseOptions& options) {
  // default_permissions: the kernel checks mode bits against the caller, as for a local disk.
  // nosuid,nodev (libfuse's default, stated because we rely on it): guest data is untrusted,
  // so its setuid bits, file capabilities and device nodes mean nothing on the host.
  std::string opts = "fsname=redox-bridge,subtype=scheme,default_permissions,nosuid,nodev";
  if (options.allow_other) opts += ",allow_other";
  return opts;
}

// True when `device` is the filesystem visible at `path` right now.
bool mounted_here(const std::string& path, const MountDevice& device) {
  auto top = fuse_impl::top_mount_at(path);
  return top && top->device == device;
}

}  // namespace

FuseFrontend::FuseFrontend(SchemeRegistry& registry, FuseOptions options, std::string mountpoint)
    : mountpoint_(std::move(mountpoint)),
      state_(std::make_unique<fuse_impl::FrontendState>(registry, options)) {}

Result<std::unique_ptr<FuseFrontend>> FuseFrontend::start(SchemeRegistry& registry,
                                                          FuseOptions options) {
  if (options.max_threads == 0) return make_error(EINVAL, "FUSE max_threads must be at least 1");
  auto path = fuse_impl::absolute_mountpoint(options.mountpoint);
  if (!path) return path.error();
  if (auto prepared = fuse_impl::prepare_mountpoint(*path); !prepared) return prepared.error();

  fuse_set_log_func(log_from_libfuse);
  std::unique_ptr<FuseFrontend> frontend(new FuseFrontend(registry, options, *path));
  if (auto mounted = frontend->mount(); !mounted) return mounted.error();
  frontend->open_abort_file();
  frontend->loop_ = std::thread([raw = frontend.get()] { raw->run_loop(); });
  if (auto serving = frontend->wait_until_serving(); !serving) return serving.error();
  spdlog::info("FUSE frontend serving schemes at {}", *path);
  return frontend;
}

Status FuseFrontend::mount() {
  std::vector<std::string> arg_text = {"bridge-host", "-o", mount_options(state_->options)};
  std::vector<char*> argv;
  for (auto& arg : arg_text) argv.push_back(arg.data());
  fuse_args args{.argc = static_cast<int>(argv.size()), .argv = argv.data(), .allocated = 0};
  const fuse_operations operations = fuse_impl::make_operations();
  fuse_ = fuse_new(&args, &operations, sizeof operations, state_.get());
  fuse_opt_free_args(&args);
  if (!fuse_) return make_error(EINVAL, "libfuse refused the options for " + mountpoint_);
  if (fuse_mount(fuse_, mountpoint_.c_str()) != 0)
    return make_error(EIO, "mounting FUSE at " + mountpoint_ + " failed (see the libfuse log)");
  auto top = fuse_impl::top_mount_at(mountpoint_);
  if (!top || top->source != "redox-bridge")
    return make_error(EIO, "FUSE mount at " + mountpoint_ + " is not in /proc/self/mountinfo");
  device_ = std::make_unique<MountDevice>(top->device);
  return {};
}

void FuseFrontend::open_abort_file() {
  Status ready = fuse_impl::ensure_fusectl_mounted();
  if (ready) {
    auto file = fuse_impl::open_abort_file(*device_);
    if (file) abort_file_ = std::move(file).value();
    if (!file) ready = file.error();
  }
  if (!ready)
    spdlog::warn(
        "{} ({}): stop() cannot abort requests in flight; the FUSE loop at {} ends only "
        "once no file on it is open",
        ready.error().context, std::strerror(ready.code()), mountpoint_);
}

Status FuseFrontend::wait_until_serving() {
  if (!state_->wait_initialized(kInitTimeout))
    return make_error(ETIMEDOUT, "the kernel's FUSE handshake on " + mountpoint_ +
                                     " did not arrive (or the FUSE loop failed to start)");
  // The handshake reply is processed by the kernel after init() returns; any request waits for
  // it, so one forced getattr of the root guarantees the readahead we set below sticks.
  struct statx stx;
  // INVARIANT: raw syscall; stx is a local the kernel fills.
  if (::statx(AT_FDCWD, mountpoint_.c_str(), AT_STATX_FORCE_SYNC, STATX_TYPE, &stx) != 0)
    return make_error(errno, "the new FUSE mount at " + mountpoint_ + " does not answer");
  if (auto raised = fuse_impl::set_readahead_kb(*device_, kReadaheadKb); !raised)
    spdlog::debug("FUSE readahead stays at the kernel default: {}", raised.error().context);
  return {};
}

void FuseFrontend::run_loop() {
  // libfuse's workers inherit this mask: signals go to the daemon's own signal handling.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);

  fuse_loop_config* config = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(config, state_->options.max_threads);
  // A /dev/fuse fd per worker: requests are spread over the workers without a shared queue.
  fuse_loop_cfg_set_clone_fd(config, 1);
  const int rc = fuse_loop_mt(fuse_, config);
  fuse_loop_cfg_destroy(config);
  state_->mark_loop_ended();

  std::lock_guard lock(stop_mu_);
  if (!stopped_)
    spdlog::warn("FUSE loop at {} ended before stop() (rc {}): unmounted from outside?",
                 mountpoint_, rc);
}

void FuseFrontend::stop() {
  std::lock_guard lock(stop_mu_);
  if (stopped_ || !fuse_) return;
  stopped_ = true;
  // Workers check the exit flag only between requests; a worker waiting in read(/dev/fuse)
  // needs the connection to end, which the detach alone does not do while a client still has
  // a file open or a cwd in the mount. So: flag, detach, abort.
  fuse_exit(fuse_);
  if (device_ && mounted_here(mountpoint_, *device_) &&
      ::umount2(mountpoint_.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0)
    spdlog::warn("detaching FUSE mount {} failed: {}", mountpoint_, std::strerror(errno));
  if (abort_file_) {
    if (auto aborted = fuse_impl::abort_connection(abort_file_); !aborted)
      spdlog::warn("aborting FUSE connection of {}: {} ({})", mountpoint_, aborted.error().context,
                   std::strerror(aborted.code()));
  }
  spdlog::info("FUSE frontend at {} stopped", mountpoint_);
}

FuseFrontend::~FuseFrontend() {
  stop();
  if (loop_.joinable()) loop_.join();
  // Files the kernel never released (the connection was aborted): close them on the guest.
  for (const auto& file : state_->files.clear()) {
    try {
      (void)file->scheme->close(file->id);
    } catch (const std::exception& e) {
      spdlog::error("closing file {} at FUSE shutdown: {}", file->id, e.what());
    } catch (...) {
      spdlog::error("closing file {} at FUSE shutdown: unknown exception", file->id);
    }
  }
  state_->dirs.clear();
  if (fuse_) {
    release_session();
    fuse_destroy(fuse_);
  }
}

void FuseFrontend::release_session() {
  // fuse_unmount() closes the session fd and, unless the connection is already dead (POLLERR),
  // unmounts by path: only safe when the mount at that path is still ours.
  pollfd pfd{.fd = fuse_session_fd(fuse_get_session(fuse_)), .events = 0, .revents = 0};
  const bool dead = pfd.fd >= 0 && ::poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR);
  if (dead || (device_ && mounted_here(mountpoint_, *device_)) || !device_) {
    fuse_unmount(fuse_);
  } else {
    // fuse_destroy() still closes the fd; only libfuse's copy of the path string is left.
    spdlog::debug("FUSE connection of {} still open after stop; leaving its unmount alone",
                  mountpoint_);
  }
}

}  // namespace bridge::host
