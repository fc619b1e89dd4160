// getattr, setattr, readlink, statfs and sync. setattr works on an O_PATH fd of the entry
// itself (never its symlink target) wherever the kernel allows it, and on a second, verified
// open of the same inode where it does not (truncate, chmod before Linux 6.6).
#include <fcntl.h>
#include <limits.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdint>

#include "bridge-guest/engines/mount/attr_conv.h"
#include "bridge-guest/engines/mount/mount_ops.h"
#include "bridge-guest/engines/mount/sys_error.h"

namespace bridge::guest::mnt {

namespace {

// fchmodat2 (Linux 6.6) is newer than the libc headers of Debian bookworm; the number is the
// same on every architecture.
#ifdef SYS_fchmodat2
constexpr long kSysFchmodat2 = SYS_fchmodat2;
#else
constexpr long kSysFchmodat2 = 452;
#endif

// Refuses what Linux refuses, before anything changes, so a failed setattr changes nothing.
Status check_changes(const struct stat& st, const SetAttr& c, std::string_view path) {
  if (c.mode && S_ISLNK(st.st_mode)) return sys_error(EOPNOTSUPP, "chmod (symlink)", path);
  if (c.size && S_ISDIR(st.st_mode)) return sys_error(EISDIR, "truncate", path);
  if (c.size && !S_ISREG(st.st_mode)) return sys_error(EINVAL, "truncate", path);
  if (c.size && *c.size > static_cast<uint64_t>(INT64_MAX))
    return sys_error(EFBIG, "truncate", path);
  if (auto ts = to_timespecs(c, path); !ts) return ts.error();
  return {};
}

Status chmod_entry(const ConfinedRoot& root, const RelPath& path, int entry, const struct stat& st,
                   uint32_t mode) {
  const std::string text = path.str();
  // INVARIANT: fchmodat2(dirfd, "", mode, AT_EMPTY_PATH) on an O_PATH fd changes exactly the
  // inode that fd holds; it takes no pointer other than the NUL-terminated "".
  if (::syscall(kSysFchmodat2, entry, "", mode & 07777, AT_EMPTY_PATH) == 0) return {};
  if (errno != ENOSYS) return last_error("chmod", text);
  // Before 6.6: fchmod on a second open of the same inode. Opening a device node would open
  // the device and sockets cannot be opened at all, so those wait for fchmodat2.
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISFIFO(st.st_mode))
    return sys_error(EOPNOTSUPP, "chmod (device or socket; needs Linux 6.6)", text);
  auto fd = reopen_same(root, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, st, "chmod");
  if (!fd) return fd.error();
  if (::fchmod(fd->get(), mode & 07777) != 0) return last_error("chmod", text);
  return {};
}

Status truncate_entry(const ConfinedRoot& root, const RelPath& path, const struct stat& st,
                      uint64_t size) {
  auto fd = reopen_same(root, path, O_WRONLY | O_NONBLOCK | O_NOCTTY, st, "truncate");
  if (!fd) return fd.error();
  if (::ftruncate(fd->get(), static_cast<off_t>(size)) != 0)
    return last_error("truncate", path.str());
  return {};
}

}  // namespace

Result<UniqueFd> reopen_same(const ConfinedRoot& root, const RelPath& path, int flags,
                             const struct stat& expected, std::string_view what) {
  auto fd = root.open(path, flags | O_NOFOLLOW, what);
  if (!fd) return fd.error();
  auto st = raw_stat(fd->get(), what, path.str());
  if (!st) return st.error();
  if (st->st_dev != expected.st_dev || st->st_ino != expected.st_ino)
    return sys_error(EAGAIN, std::string(what) + " (changed while being updated)", path.str());
  return fd;
}

Result<Attr> op_getattr(const ConfinedRoot& root, const RelPath& path, bool follow) {
  auto fd = root.open(path, O_PATH | (follow ? 0 : O_NOFOLLOW), "getattr");
  if (!fd) return fd.error();
  return stat_fd(fd->get(), "getattr", path.str());
}

// Owner first (a change of owner clears set-ID bits, which the new mode may set again), then
// mode, size, and times last (truncation updates mtime).
Result<Attr> op_setattr(const ConfinedRoot& root, const RelPath& path, const SetAttr& c) {
  const std::string text = path.str();
  auto entry = root.open(path, O_PATH | O_NOFOLLOW, "setattr");
  if (!entry) return entry.error();
  auto st = raw_stat(entry->get(), "setattr", text);
  if (!st) return st.error();
  if (auto s = check_changes(*st, c, text); !s) return s.error();
  if (auto s = chown_fd(entry->get(), c, text); !s) return s.error();
  if (c.mode) {
    if (auto s = chmod_entry(root, path, entry->get(), *st, *c.mode); !s) return s.error();
  }
  if (c.size) {
    if (auto s = truncate_entry(root, path, *st, *c.size); !s) return s.error();
  }
  if (auto s = set_times_fd(entry->get(), c, text); !s) return s.error();
  return stat_fd(entry->get(), "setattr", text);
}

Result<std::string> op_readlink(const ConfinedRoot& root, const RelPath& path) {
  auto parent = root.parent(path, "readlink", EINVAL);
  if (!parent) return parent.error();
  // Linux symlink targets are below PATH_MAX, so a buffer one larger is never filled.
  std::string target(PATH_MAX + 1, '\0');
  ssize_t n = ::readlinkat(parent->dir.get(), parent->name.c_str(), target.data(), target.size());
  if (n < 0) return last_error("readlink", path.str());
  target.resize(static_cast<std::size_t>(n));
  return target;
}

Result<StatFs> op_statfs(const ConfinedRoot& root) {
  struct statfs s {};
  if (::fstatfs(root.fd(), &s) != 0) return last_error("statfs", "/");
  return to_statfs(s);
}

Status op_sync(const ConfinedRoot& root) {
  // syncfs needs a real fd; the root is held as O_PATH.
  auto fd = root.open(RelPath{}, O_RDONLY | O_DIRECTORY, "sync");
  if (!fd) return fd.error();
  if (::syncfs(fd->get()) != 0) return last_error("syncfs", "/");
  return {};
}

}  // namespace bridge::guest::mnt
