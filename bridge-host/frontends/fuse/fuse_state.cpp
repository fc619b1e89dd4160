#include "bridge-host/frontends/fuse/fuse_state.h"

#include <sys/stat.h>
#include <unistd.h>

#include <random>

namespace bridge::host::fuse_impl {
namespace {

Attr make_root_attr() {
  struct timespec now {};
  clock_gettime(CLOCK_REALTIME, &now);
  const Timestamp started{.sec = now.tv_sec, .nsec = static_cast<uint32_t>(now.tv_nsec)};
  return Attr{.ino = 1,
              .mode = S_IFDIR | 0755,
              .nlink = 2,
              .uid = static_cast<uint32_t>(geteuid()),
              .gid = static_cast<uint32_t>(getegid()),
              .atime = started,
              .mtime = started,
              .ctime = started};
}

// Handles from an earlier frontend in this process must not match this one's.
uint16_t random_boot_tag() {
  return static_cast<uint16_t>(std::random_device{}());
}

}  // namespace

FrontendState::FrontendState(SchemeRegistry& registry, const FuseOptions& options)
    : registry(registry),
      options(options),
      files(random_boot_tag()),
      dirs(random_boot_tag()),
      root_attr(make_root_attr()) {}

void FrontendState::mark_initialized() {
  std::lock_guard lock(mu_);
  initialized_ = true;
  cv_.notify_all();
}

void FrontendState::mark_loop_ended() {
  std::lock_guard lock(mu_);
  loop_ended_ = true;
  cv_.notify_all();
}

bool FrontendState::wait_initialized(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return initialized_ || loop_ended_; });
  return initialized_;
}

FrontendState& current_state() {
  // INVARIANT: every frontend passes its FrontendState as fuse_new()'s user data and init()
  // returns it unchanged, so private_data is that object; it outlives the fuse handle.
  return *static_cast<FrontendState*>(fuse_get_context()->private_data);
}

Creds caller_creds() {
  const fuse_context* context = fuse_get_context();
  return Creds{.uid = context->uid, .gid = context->gid};
}

Result<Target> resolve(const char* raw) {
  if (raw == nullptr) return make_error(EBADF, "no path and no handle");
  auto path = parse_fuse_path(raw);
  if (!path) return path.error();
  Target target;
  target.path = std::move(path).value();
  if (target.path.is_mount_root()) return target;
  target.scheme = current_state().registry.find_fs(target.path.scheme);
  if (!target.scheme) return make_error(ENOENT, "no filesystem scheme " + target.path.scheme);
  return target;
}

Result<Target> resolve_inside(const char* raw) {
  if (raw == nullptr) return make_error(EBADF, "no path");
  auto path = parse_fuse_path(raw);
  if (!path) return path.error();
  if (path->rel.is_root()) return make_error(EPERM, "the scheme root is read-only");
  return resolve(raw);
}

std::shared_ptr<OpenFile> find_file(const fuse_file_info* fi) {
  // fh is a HandleTable handle we stored at open/create, never a pointer; an unknown value
  // finds nothing.
  return fi ? current_state().files.find(fi->fh) : nullptr;
}

}  // namespace bridge::host::fuse_impl
