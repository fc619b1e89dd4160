#include "bridge-guest/engines/mount/confined_root.h"

#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "bridge-guest/engines/mount/sys_error.h"

namespace bridge::guest::mnt {

namespace {

constexpr uint64_t kResolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
// EAGAIN only repeats while renames or mounts keep racing the lookup; give up eventually.
constexpr int kEagainRetries = 64;

Error no_confinement(const std::string& dir, int code) {
  return make_error(
      code, "mount engine: export root " + dir +
                ": this kernel lacks openat2 (5.6+); refusing to serve without "
                "confinement (" +
                sys_error(code, "openat2 RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS").context + ")");
}

// The kernel must answer ".." at the root with the root itself; anything else means lookups
// would not be confined, so the engine must not start.
Status probe_confinement(int root, const std::string& dir) {
  int dotdot = confined_openat(root, "..", O_PATH | O_DIRECTORY);
  if (dotdot < 0) return no_confinement(dir, -dotdot);
  UniqueFd up(dotdot);
  struct stat a {
  }, b{};
  if (::fstat(root, &a) != 0 || ::fstat(up.get(), &b) != 0) return last_error("stat", dir);
  if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
    return make_error(EPERM, "mount engine: export root " + dir +
                                 ": openat2 did not keep '..' inside the root; refusing to serve");
  return {};
}

}  // namespace

int confined_openat(int dir, const char* path, int flags, mode_t mode) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  // openat2 refuses a mode without O_CREAT / O_TMPFILE.
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = kResolve;
  for (int attempt = 0;; ++attempt) {
    // INVARIANT: how is a fully initialized open_how and sizeof(how) is its size; path is a
    // NUL-terminated string that outlives the call. The kernel returns a new fd or -1/errno.
    long fd = ::syscall(SYS_openat2, dir, path, &how, sizeof(how));
    if (fd >= 0) return static_cast<int>(fd);
    if ((errno != EAGAIN && errno != EINTR) || attempt >= kEagainRetries) return -errno;
  }
}

std::string lookup_text(const RelPath& path) {
  if (path.is_root()) return ".";
  return path.str().substr(1);
}

Result<ConfinedRoot> ConfinedRoot::attach(const std::string& dir) {
  UniqueFd root(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) {
    int code = errno;
    return make_error(code, "mount engine: cannot open export root " + dir + ": " +
                                sys_error(code, "open").context + ": check the path");
  }
  if (auto st = probe_confinement(root.get(), dir); !st) return st.error();
  return ConfinedRoot(std::move(root));
}

Result<UniqueFd> ConfinedRoot::open(const RelPath& path, int flags, std::string_view what,
                                    mode_t mode) const {
  int fd = confined_openat(root_.get(), lookup_text(path).c_str(), flags, mode);
  if (fd < 0) return sys_error(-fd, what, path.str());
  return UniqueFd(fd);
}

Result<ParentDir> ConfinedRoot::parent(const RelPath& path, std::string_view what, int root_errno,
                                       int dir_flags) const {
  if (path.is_root()) return sys_error(root_errno, what, "/");
  auto dir = open(path.parent(), dir_flags | O_DIRECTORY, what, 0);
  if (!dir) return sys_error(dir.code(), what, path.str());
  return ParentDir{std::move(dir).value(), path.leaf().str()};
}

Result<UniqueFd> open_child(const ParentDir& parent, int flags, std::string_view what,
                            std::string_view path) {
  int fd = confined_openat(parent.dir.get(), parent.name.c_str(), flags | O_NOFOLLOW);
  if (fd < 0) return sys_error(-fd, what, path);
  return UniqueFd(fd);
}

}  // namespace bridge::guest::mnt
