// mkdir, symlink and link: each on the parent directory of the new name, with the *at syscall
// on that single name, so nothing is created through a symlink that would lead elsewhere. New
// objects get the caller's owner (the guest runs as root) and exactly the requested mode (the
// daemon's umask does not apply: the host applied its own).
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge-guest/engines/mount/attr_conv.h"
#include "bridge-guest/engines/mount/mount_ops.h"
#include "bridge-guest/engines/mount/sys_error.h"

namespace bridge::guest::mnt {

namespace {

Result<Attr> stat_child(const ParentDir& parent, std::string_view what, std::string_view path) {
  struct stat st {};
  if (::fstatat(parent.dir.get(), parent.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return last_error(what, path);
  return to_attr(st);
}

// Owner, then mode (chown may clear set-ID bits). A set-group-ID bit the directory inherited
// from its parent stays, as mkdir(2) keeps it.
Status own_new_dir(int fd, uint32_t mode, const Creds& creds, std::string_view path) {
  if (::fchown(fd, creds.uid, creds.gid) != 0) return last_error("mkdir (chown)", path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return last_error("mkdir (stat)", path);
  mode_t want = (mode & 07777) | (st.st_mode & S_ISGID);
  if (::fchmod(fd, want) != 0) return last_error("mkdir (chmod)", path);
  return {};
}

Status check_symlink_target(std::string_view target, std::string_view path) {
  // As symlink(2): an empty target is ENOENT.
  if (target.empty()) return sys_error(ENOENT, "symlink (empty target)", path);
  if (target.find('\0') != std::string_view::npos)
    return sys_error(EINVAL, "symlink (NUL in target)", path);
  if (target.size() >= PATH_MAX) return sys_error(ENAMETOOLONG, "symlink (target)", path);
  return {};
}

}  // namespace

Result<Attr> op_mkdir(const ConfinedRoot& root, const RelPath& path, uint32_t mode,
                      const Creds& creds) {
  const std::string text = path.str();
  auto parent = root.parent(path, "mkdir", EEXIST);
  if (!parent) return parent.error();
  if (::mkdirat(parent->dir.get(), parent->name.c_str(), mode & 07777) != 0)
    return last_error("mkdir", text);
  auto fd = open_child(*parent, O_RDONLY | O_DIRECTORY, "mkdir", text);
  if (!fd) return fd.error();
  if (auto st = own_new_dir(fd->get(), mode, creds, text); !st) {
    // Leave nothing half-made behind: the caller sees the failure and no directory.
    ::unlinkat(parent->dir.get(), parent->name.c_str(), AT_REMOVEDIR);
    return st.error();
  }
  return stat_fd(fd->get(), "mkdir", text);
}

Result<Attr> op_symlink(const ConfinedRoot& root, const RelPath& path, std::string_view target,
                        const Creds& creds) {
  const std::string text = path.str();
  if (auto st = check_symlink_target(target, text); !st) return st.error();
  auto parent = root.parent(path, "symlink", EEXIST);
  if (!parent) return parent.error();
  // The target is stored, never resolved here; every later lookup through it is confined.
  const std::string stored(target);
  if (::symlinkat(stored.c_str(), parent->dir.get(), parent->name.c_str()) != 0)
    return last_error("symlink", text);
  if (::fchownat(parent->dir.get(), parent->name.c_str(), creds.uid, creds.gid,
                 AT_SYMLINK_NOFOLLOW) != 0) {
    Error e = last_error("symlink (chown)", text);
    ::unlinkat(parent->dir.get(), parent->name.c_str(), 0);
    return e;
  }
  return stat_child(*parent, "symlink", text);
}

Result<Attr> op_link(const ConfinedRoot& root, const RelPath& existing, const RelPath& new_path) {
  const std::string text = new_path.str();
  auto from = root.parent(existing, "link", EPERM);
  if (!from) return from.error();
  auto to = root.parent(new_path, "link", EEXIST);
  if (!to) return to.error();
  // No AT_SYMLINK_FOLLOW: a symlink is linked as itself, as link(2) does on Linux.
  if (::linkat(from->dir.get(), from->name.c_str(), to->dir.get(), to->name.c_str(), 0) != 0)
    return last_error("link " + existing.str() + " ->", text);
  return stat_child(*to, "link", text);
}

}  // namespace bridge::guest::mnt
