// open(2) through the confined lookup. The object is looked at first through an O_PATH fd, so
// that device nodes, fifos and sockets are refused (ENXIO, as the ext2fs engine does) without
// ever being opened; then it is opened for real and checked again on that fd.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge-guest/engines/mount/attr_conv.h"
#include "bridge-guest/engines/mount/mount_file.h"
#include "bridge-guest/engines/mount/mount_ops.h"
#include "bridge-guest/engines/mount/sys_error.h"

namespace bridge::guest::mnt {

namespace {

bool wants_write(const OpenFlags& f) {
  return f.write || f.append || f.truncate;
}

int open_flags(const OpenFlags& f, bool follow) {
  int access = !wants_write(f) ? O_RDONLY : f.read ? O_RDWR : O_WRONLY;
  // O_NONBLOCK and O_NOCTTY: should the name turn into a fifo or a tty between the look and the
  // open, the open neither hangs a worker nor takes a controlling terminal.
  int flags = access | O_NONBLOCK | O_NOCTTY;
  if (f.append) flags |= O_APPEND;
  if (f.truncate) flags |= O_TRUNC;
  if (f.directory) flags |= O_DIRECTORY;
  if (!follow) flags |= O_NOFOLLOW;
  return flags;
}

// Linux's checks on an existing object, in the ext2fs engine's order.
Status check_existing(const struct stat& st, const OpenFlags& f, bool read_only,
                      std::string_view path) {
  if (f.create && f.exclusive) return sys_error(EEXIST, "open (O_EXCL)", path);
  // Reached only when the final symlink was not followed: O_NOFOLLOW.
  if (S_ISLNK(st.st_mode)) return sys_error(ELOOP, "open (O_NOFOLLOW on a symlink)", path);
  if (f.directory && !S_ISDIR(st.st_mode)) return sys_error(ENOTDIR, "open", path);
  if (S_ISDIR(st.st_mode) && wants_write(f)) return sys_error(EISDIR, "open", path);
  // Device nodes, fifos and sockets of the guest mean nothing on the host.
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
    return sys_error(ENXIO, "open (special file)", path);
  if (read_only && wants_write(f)) return sys_error(EROFS, "open", path);
  return {};
}

// Owner, then the exact mode (no umask; chown may clear set-ID bits the mode asks for).
Status own_new_file(int fd, uint32_t mode, const Creds& creds, std::string_view path) {
  if (::fchown(fd, creds.uid, creds.gid) != 0) return last_error("create (chown)", path);
  if (::fchmod(fd, mode & 07777) != 0) return last_error("create (chmod)", path);
  return {};
}

// Creates a regular file. Without O_EXCL a concurrent creator may win the race; the file is
// then given the caller's owner and mode all the same, as if this create had made it.
Result<UniqueFd> create_file(const ConfinedRoot& root, const RelPath& path, const OpenFlags& f,
                             bool follow, uint32_t mode, const Creds& creds) {
  int flags = open_flags(f, follow) | O_CREAT | (f.exclusive ? O_EXCL : 0);
  auto fd = root.open(path, flags, "create", mode & 07777);
  if (!fd) return fd.error();
  if (auto st = own_new_file(fd->get(), mode, creds, path.str()); !st) return st.error();
  return fd;
}

Result<UniqueFd> open_existing(const ConfinedRoot& root, const RelPath& path, const OpenFlags& f,
                               bool follow) {
  auto fd = root.open(path, open_flags(f, follow), "open");
  if (!fd) return fd.error();
  auto st = raw_stat(fd->get(), "open", path.str());
  if (!st) return st.error();
  if (!S_ISDIR(st->st_mode) && !S_ISREG(st->st_mode))
    return sys_error(ENXIO, "open (special file)", path.str());
  return fd;
}

}  // namespace

Result<std::unique_ptr<OpenFile>> op_open(const ConfinedRoot& root, const RelPath& path,
                                          const OpenFlags& f, uint32_t create_mode,
                                          const Creds& creds, bool read_only) {
  const std::string text = path.str();
  // O_CREAT|O_EXCL never follows a final symlink: the name itself must be free.
  bool follow = !f.no_follow && !(f.create && f.exclusive);
  auto look = root.open(path, O_PATH | (follow ? 0 : O_NOFOLLOW), "open");
  Result<UniqueFd> fd = UniqueFd{};
  if (look) {
    auto st = raw_stat(look->get(), "open", text);
    if (!st) return st.error();
    if (auto s = check_existing(*st, f, read_only, text); !s) return s.error();
    fd = open_existing(root, path, f, follow);
  } else if (look.code() == ENOENT && f.create && !f.directory) {
    if (read_only) return sys_error(EROFS, "create", text);
    fd = create_file(root, path, f, follow, create_mode, creds);
  } else {
    return look.error();
  }
  if (!fd) return fd.error();
  auto st = raw_stat(fd->get(), "open", text);
  if (!st) return st.error();
  return std::unique_ptr<OpenFile>(
      std::make_unique<MountFile>(std::move(fd).value(), f, S_ISDIR(st->st_mode), read_only, text));
}

}  // namespace bridge::guest::mnt
