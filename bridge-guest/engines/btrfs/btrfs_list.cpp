// Listing subvolumes below an export root that need not be a subvolume itself: iterate below the
// subvolume that contains the root, keep what lies under the root's path inside that subvolume
// and make the paths relative to the root.
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "bridge-guest/engines/btrfs/btrfs_error.h"
#include "bridge-guest/engines/btrfs/btrfs_subvolumes.h"
#include "bridge-guest/engines/mount/sys_error.h"

namespace bridge::guest::btrfs {

namespace {

struct IteratorCloser {
  void operator()(btrfs_util_subvolume_iterator* it) const {
    btrfs_util_destroy_subvolume_iterator(it);
  }
};
using IteratorHandle = std::unique_ptr<btrfs_util_subvolume_iterator, IteratorCloser>;

struct FreeCloser {
  void operator()(char* p) const { std::free(p); }
};

// Where dir lies inside subvolume `subvol`: "" at its top, else "a/b/".
Result<std::string> path_in_subvolume(int dir, uint64_t subvol) {
  struct stat st {};
  if (::fstat(dir, &st) != 0) return mnt::last_error("subvolume list (stat)", "/");
  if (st.st_ino == BTRFS_FIRST_FREE_OBJECTID) return std::string();
  btrfs_ioctl_ino_lookup_args args{};
  args.treeid = subvol;
  args.objectid = st.st_ino;
  // INVARIANT: dir is an O_RDONLY directory fd on btrfs (the engine checked the magic), and
  // BTRFS_IOC_INO_LOOKUP reads treeid/objectid and writes a NUL-terminated path of at most
  // sizeof(args.name) bytes into args.name.
  if (::ioctl(dir, BTRFS_IOC_INO_LOOKUP, &args) != 0)
    return mnt::last_error("subvolume list (BTRFS_IOC_INO_LOOKUP)", "/");
  args.name[sizeof(args.name) - 1] = '\0';
  return std::string(args.name);
}

SubvolInfo to_info(std::string path, const struct btrfs_util_subvolume_info& in) {
  SubvolInfo out;
  out.id = in.id;
  out.parent_id = in.parent_id;
  out.path = std::move(path);
  out.read_only = (in.flags & BTRFS_ROOT_SUBVOL_RDONLY) != 0;
  out.generation = in.generation;
  out.uuid.assign(std::begin(in.uuid), std::end(in.uuid));
  out.parent_uuid.assign(std::begin(in.parent_uuid), std::end(in.parent_uuid));
  return out;
}

Result<IteratorHandle> iterate_below(int dir, uint64_t top) {
  btrfs_util_subvolume_iterator* raw = nullptr;
  auto st =
      call_btrfsutil([&] { return btrfs_util_create_subvolume_iterator_fd(dir, top, 0, &raw); },
                     "subvolume list: btrfs_util_create_subvolume_iterator_fd", "/");
  if (!st) return st.error();
  return IteratorHandle(raw);
}

}  // namespace

Result<std::vector<SubvolInfo>> list_below(int dir) {
  uint64_t top = 0;
  auto st = call_btrfsutil([&] { return btrfs_util_subvolume_id_fd(dir, &top); },
                           "subvolume list: btrfs_util_subvolume_id_fd", "/");
  if (!st) return st.error();
  auto prefix = path_in_subvolume(dir, top);
  if (!prefix) return prefix.error();
  auto it = iterate_below(dir, top);
  if (!it) return it.error();

  std::vector<SubvolInfo> out;
  for (;;) {
    char* raw_path = nullptr;
    struct btrfs_util_subvolume_info info {};
    errno = 0;
    auto err = btrfs_util_subvolume_iterator_next_info(it->get(), &raw_path, &info);
    if (err == BTRFS_UTIL_ERROR_STOP_ITERATION) break;
    if (err != BTRFS_UTIL_OK)
      return btrfs_error(err, errno, "subvolume list: btrfs_util_subvolume_iterator_next_info",
                         "/");
    std::unique_ptr<char, FreeCloser> owned(raw_path);
    std::string_view path(raw_path);
    if (!path.starts_with(*prefix)) continue;  // elsewhere in the subvolume: not exported
    out.push_back(to_info(std::string(path.substr(prefix->size())), info));
  }
  return out;
}

}  // namespace bridge::guest::btrfs
