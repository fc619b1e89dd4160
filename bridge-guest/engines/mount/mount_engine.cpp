// The FsEngine face of the mount engine: a thin table from interface methods to the operations
// in mount_ops.h, plus choosing between serving a directory and mounting a device or image.
#include "bridge-guest/engines/mount/mount_engine.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include "bridge-guest/engines/mount/mount_engine_base.h"
#include "bridge-guest/engines/mount/mount_ops.h"
#include "bridge-guest/engines/mount/sys_error.h"

namespace bridge::guest {

namespace mnt {

Result<MountedExport> prepare_export(const std::string& source, bool read_only) {
  struct stat st {};
  if (::stat(source.c_str(), &st) != 0) {
    int code = errno;
    return make_error(code, "mount engine: " + sys_error(code, "cannot use", source).context +
                                ": check the path");
  }
  std::unique_ptr<PrivateMount> mounted;
  std::string dir = source;
  if (S_ISBLK(st.st_mode) || S_ISREG(st.st_mode)) {
    auto made = PrivateMount::mount(source, read_only);
    if (!made) return made.error();
    mounted = std::move(made).value();
    dir = mounted->target();
  } else if (!S_ISDIR(st.st_mode)) {
    return make_error(EINVAL, "mount engine: " + source +
                                  " is neither a directory, a block device nor an image file");
  }
  auto root = ConfinedRoot::attach(dir);
  if (!root) return root.error();
  return MountedExport{std::move(mounted), std::move(root).value()};
}

MountEngine::~MountEngine() {
  // Everything written reaches the disk before the mount (if ours) goes away.
  if (auto st = op_sync(export_.root); !st)
    spdlog::warn("mount engine: sync on shutdown failed: {}", st.error().context);
}

Status MountEngine::writable(std::string_view what, const RelPath& path) const {
  if (read_only_) return sys_error(EROFS, what, path.str());
  return {};
}

Result<Attr> MountEngine::getattr(const RelPath& path, bool follow) {
  return op_getattr(root(), path, follow);
}
Result<Attr> MountEngine::setattr(const RelPath& path, const SetAttr& changes) {
  if (auto st = writable("setattr", path); !st) return st.error();
  return op_setattr(root(), path, changes);
}
Result<std::unique_ptr<OpenFile>> MountEngine::open(const RelPath& path, const OpenFlags& flags,
                                                    uint32_t create_mode, const Creds& creds) {
  return op_open(root(), path, flags, create_mode, creds, read_only_);
}
Result<DirPage> MountEngine::readdir(const RelPath& dir, uint64_t cookie, uint32_t max_entries,
                                     bool with_attrs) {
  return op_readdir(root(), dir, cookie, max_entries, with_attrs);
}
Result<Attr> MountEngine::mkdir(const RelPath& path, uint32_t mode, const Creds& creds) {
  if (auto st = writable("mkdir", path); !st) return st.error();
  return op_mkdir(root(), path, mode, creds);
}
Status MountEngine::unlink(const RelPath& path) {
  if (auto st = writable("unlink", path); !st) return st;
  return op_unlink(root(), path);
}
Status MountEngine::rmdir(const RelPath& path) {
  if (auto st = writable("rmdir", path); !st) return st;
  return op_rmdir(root(), path);
}
Status MountEngine::rename(const RelPath& from, const RelPath& to, RenameFlags flags) {
  if (auto st = writable("rename", from); !st) return st;
  return op_rename(root(), from, to, flags);
}
Result<Attr> MountEngine::symlink(const RelPath& path, std::string_view target,
                                  const Creds& creds) {
  if (auto st = writable("symlink", path); !st) return st.error();
  return op_symlink(root(), path, target, creds);
}
Result<std::string> MountEngine::readlink(const RelPath& path) {
  return op_readlink(root(), path);
}
Result<Attr> MountEngine::link(const RelPath& existing, const RelPath& new_path) {
  if (auto st = writable("link", new_path); !st) return st.error();
  return op_link(root(), existing, new_path);
}
Result<StatFs> MountEngine::statfs() {
  return op_statfs(root());
}
Result<std::vector<uint8_t>> MountEngine::getxattr(const RelPath& path, std::string_view name) {
  return op_getxattr(root(), path, name);
}
Status MountEngine::setxattr(const RelPath& path, std::string_view name,
                             std::span<const uint8_t> value, XattrSetFlags flags) {
  if (auto st = writable("setxattr", path); !st) return st;
  return op_setxattr(root(), path, name, value, flags);
}
Result<std::vector<std::string>> MountEngine::listxattr(const RelPath& path) {
  return op_listxattr(root(), path);
}
Status MountEngine::removexattr(const RelPath& path, std::string_view name) {
  if (auto st = writable("removexattr", path); !st) return st;
  return op_removexattr(root(), path, name);
}
Status MountEngine::sync() {
  return op_sync(root());
}

}  // namespace mnt

Result<std::unique_ptr<FsEngine>> open_mount_engine(const std::string& source, bool read_only) {
  auto exported = mnt::prepare_export(source, read_only);
  if (!exported) return exported.error();
  return std::unique_ptr<FsEngine>(
      std::make_unique<mnt::MountEngine>(std::move(exported).value(), read_only));
}

}  // namespace bridge::guest
