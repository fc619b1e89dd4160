#include "bridge-guest/engines/btrfs/btrfs_subvolumes.h"

#include <fcntl.h>

#include "bridge-guest/engines/btrfs/btrfs_error.h"
#include "bridge-guest/engines/mount/sys_error.h"

namespace bridge::guest::btrfs {

namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY;

}  // namespace

Status BtrfsSubvolumes::writable(std::string_view what, const RelPath& path) const {
  if (read_only_) return mnt::sys_error(EROFS, what, path.str());
  return {};
}

Result<UniqueFd> BtrfsSubvolumes::open_subvolume(const RelPath& path, std::string_view what) const {
  // O_DIRECTORY first: a btrfs ioctl number on a device node could mean something else.
  auto fd = root_.open(path, kDirFlags | O_NOFOLLOW, what);
  if (!fd) return fd.error();
  int dir = fd->get();
  auto st = call_btrfsutil([&] { return btrfs_util_is_subvolume_fd(dir); }, what, path.str());
  if (!st) return st.error();
  return fd;
}

Result<std::vector<SubvolInfo>> BtrfsSubvolumes::list_subvolumes() {
  auto dir = root_.open(RelPath{}, kDirFlags, "subvolume list");
  if (!dir) return dir.error();
  return list_below(dir->get());
}

Status BtrfsSubvolumes::create_subvolume(const RelPath& path) {
  if (auto st = writable("subvolume create", path); !st) return st;
  auto parent = root_.parent(path, "subvolume create", EEXIST, kDirFlags);
  if (!parent) return parent.error();
  return call_btrfsutil(
      [&] {
        return btrfs_util_create_subvolume_fd(parent->dir.get(), parent->name.c_str(), 0, nullptr,
                                              nullptr);
      },
      "subvolume create: btrfs_util_create_subvolume_fd", path.str());
}

Status BtrfsSubvolumes::snapshot(const RelPath& source, const RelPath& dest, bool read_only) {
  if (auto st = writable("snapshot", dest); !st) return st;
  // The kernel would snapshot the subvolume *containing* any directory it is given; only a
  // subvolume itself is a meaningful (and confined) source.
  auto src = open_subvolume(source, "snapshot (source)");
  if (!src) return src.error();
  auto parent = root_.parent(dest, "snapshot", EEXIST, kDirFlags);
  if (!parent) return parent.error();
  int flags = read_only ? BTRFS_UTIL_CREATE_SNAPSHOT_READ_ONLY : 0;
  return call_btrfsutil(
      [&] {
        return btrfs_util_create_snapshot_fd2(src->get(), parent->dir.get(), parent->name.c_str(),
                                              flags, nullptr, nullptr);
      },
      "snapshot " + source.str() + " -> btrfs_util_create_snapshot_fd2", dest.str());
}

Status BtrfsSubvolumes::delete_subvolume(const RelPath& path) {
  if (auto st = writable("subvolume delete", path); !st) return st;
  auto parent = root_.parent(path, "subvolume delete", EBUSY, kDirFlags);
  if (!parent) return parent.error();
  return call_btrfsutil(
      [&] { return btrfs_util_delete_subvolume_fd(parent->dir.get(), parent->name.c_str(), 0); },
      "subvolume delete: btrfs_util_delete_subvolume_fd", path.str());
}

Result<uint64_t> BtrfsSubvolumes::default_subvolume() {
  auto dir = root_.open(RelPath{}, kDirFlags, "subvolume get-default");
  if (!dir) return dir.error();
  uint64_t id = 0;
  auto st = call_btrfsutil([&] { return btrfs_util_get_default_subvolume_fd(dir->get(), &id); },
                           "subvolume get-default: btrfs_util_get_default_subvolume_fd", "/");
  if (!st) return st.error();
  return id;
}

Status BtrfsSubvolumes::set_default_subvolume(const RelPath& path) {
  if (auto st = writable("subvolume set-default", path); !st) return st;
  auto fd = open_subvolume(path, "subvolume set-default");
  if (!fd) return fd.error();
  // id 0: the subvolume fd is in.
  return call_btrfsutil([&] { return btrfs_util_set_default_subvolume_fd(fd->get(), 0); },
                        "subvolume set-default: btrfs_util_set_default_subvolume_fd", path.str());
}

Result<bool> BtrfsSubvolumes::subvolume_read_only(const RelPath& path) {
  auto fd = open_subvolume(path, "subvolume get-read-only");
  if (!fd) return fd.error();
  bool ro = false;
  auto st =
      call_btrfsutil([&] { return btrfs_util_get_subvolume_read_only_fd(fd->get(), &ro); },
                     "subvolume get-read-only: btrfs_util_get_subvolume_read_only_fd", path.str());
  if (!st) return st.error();
  return ro;
}

Status BtrfsSubvolumes::set_subvolume_read_only(const RelPath& path, bool read_only) {
  if (auto st = writable("subvolume set-read-only", path); !st) return st;
  auto fd = open_subvolume(path, "subvolume set-read-only");
  if (!fd) return fd.error();
  return call_btrfsutil([&] { return btrfs_util_set_subvolume_read_only_fd(fd->get(), read_only); },
                        "subvolume set-read-only: btrfs_util_set_subvolume_read_only_fd",
                        path.str());
}

}  // namespace bridge::guest::btrfs
