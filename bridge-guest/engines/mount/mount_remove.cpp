// unlink, rmdir and rename: the *at syscalls on the parent directories of the names, which
// never follow the final names, so a symlink is removed or moved as itself.
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "bridge-guest/engines/mount/mount_ops.h"
#include "bridge-guest/engines/mount/sys_error.h"

namespace bridge::guest::mnt {

Status op_unlink(const ConfinedRoot& root, const RelPath& path) {
  auto parent = root.parent(path, "unlink", EISDIR);
  if (!parent) return parent.error();
  if (::unlinkat(parent->dir.get(), parent->name.c_str(), 0) != 0)
    return last_error("unlink", path.str());
  return {};
}

Status op_rmdir(const ConfinedRoot& root, const RelPath& path) {
  auto parent = root.parent(path, "rmdir", EBUSY);
  if (!parent) return parent.error();
  if (::unlinkat(parent->dir.get(), parent->name.c_str(), AT_REMOVEDIR) != 0)
    return last_error("rmdir", path.str());
  return {};
}

Status op_rename(const ConfinedRoot& root, const RelPath& from, const RelPath& to,
                 RenameFlags flags) {
  if (flags.exchange && flags.no_replace) return sys_error(EINVAL, "rename", from.str());
  auto src = root.parent(from, "rename", EBUSY);
  if (!src) return src.error();
  auto dst = root.parent(to, "rename", EBUSY);
  if (!dst) return dst.error();
  unsigned kernel_flags =
      (flags.no_replace ? RENAME_NOREPLACE : 0u) | (flags.exchange ? RENAME_EXCHANGE : 0u);
  if (::renameat2(src->dir.get(), src->name.c_str(), dst->dir.get(), dst->name.c_str(),
                  kernel_flags) != 0)
    return last_error("rename " + from.str() + " ->", to.str());
  return {};
}

}  // namespace bridge::guest::mnt
