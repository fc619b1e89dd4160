// rename(2) and renameat2(RENAME_NOREPLACE | RENAME_EXCHANGE) with Linux's errors:
// a directory cannot move below itself (EINVAL); a directory replaces only an empty directory
// (ENOTDIR, ENOTEMPTY); a non-directory never replaces a directory (EISDIR).
//
// An existing target is replaced by pointing its entry at the source (no window where the name is
// missing, and no new directory space needed); a moved directory's ".." is rewritten and the two
// parents' link counts follow.
#include <string>

#include "bridge-guest/engines/ext2fs/ext2fs_error.h"
#include "bridge-guest/engines/ext2fs/ext2fs_ops.h"

namespace bridge::guest::ext2 {

namespace {

struct Side {
  Lookup at;
  Inode inode;
  std::string text;
};

// Link-count changes of the two parent directories, applied once with their timestamps.
struct ParentDeltas {
  int from = 0;
  int to = 0;
};

Status finish(Ext2Fs& fs, const Side& src, const Side& dst, ParentDeltas d) {
  if (src.at.dir == dst.at.dir) return update_dir(fs, src.at.dir, d.from + d.to, src.text);
  if (auto st = update_dir(fs, src.at.dir, d.from, src.text); !st) return st;
  return update_dir(fs, dst.at.dir, d.to, dst.text);
}

Status touch_ctime(Ext2Fs& fs, Ino ino, std::string_view path) {
  auto inode = fs.read_inode(ino, "rename: read inode", path);
  if (!inode) return inode.error();
  set_time(*inode, TimeField::ctime, now());
  return fs.write_inode(ino, *inode, "rename: write inode", path);
}

// A directory may not move into its own subtree.
Status check_not_below(Ext2Fs& fs, Ino moving_dir, Ino new_parent, std::string_view path) {
  auto below = is_within(fs, new_parent, moving_dir, path);
  if (!below) return below.error();
  if (*below) return errno_error(EINVAL, "rename (into its own subtree)", path);
  return {};
}

Status check_replace(Ext2Fs& fs, const Side& src, const Side& dst) {
  if (src.inode.is_dir()) {
    if (!dst.inode.is_dir()) return errno_error(ENOTDIR, "rename", dst.text);
    auto empty = dir_is_empty(fs, dst.at.ino, dst.text);
    if (!empty) return empty.error();
    if (!*empty) return errno_error(ENOTEMPTY, "rename", dst.text);
    return {};
  }
  if (dst.inode.is_dir()) return errno_error(EISDIR, "rename", dst.text);
  return {};
}

Status do_rename(Ext2Fs& fs, const Side& src, const Side& dst) {
  bool moving_dir = src.inode.is_dir();
  bool crossing = src.at.dir != dst.at.dir;
  if (moving_dir) {
    if (auto st = check_not_below(fs, src.at.ino, dst.at.dir, dst.text); !st) return st;
  }
  if (dst.at.ino != 0) {
    if (auto st = check_replace(fs, src, dst); !st) return st;
  }
  if (auto st = fs.begin_mutation("rename", src.text); !st) return st;

  ParentDeltas d;
  if (dst.at.ino != 0) {
    auto st = replace_entry(fs, dst.at.dir, dst.at.name, src.at.ino, src.inode.mode(), dst.text);
    if (!st) return st;
  } else {
    auto st = add_entry(fs, dst.at.dir, dst.at.name, src.at.ino, src.inode.mode(), dst.text);
    if (!st) return st;
  }
  if (auto st = remove_entry(fs, src.at.dir, src.at.name, src.at.ino, src.text); !st) return st;
  if (moving_dir && crossing) {
    if (auto st = set_dotdot(fs, src.at.ino, dst.at.dir, src.text); !st) return st;
    d.from -= 1;
    d.to += 1;
  }
  if (dst.at.ino != 0) {
    if (dst.inode.is_dir()) {
      if (auto st = drop_dir(fs, dst.at.ino, dst.text); !st) return st;
      d.to -= 1;  // the replaced directory's ".."
    } else if (auto st = drop_link(fs, dst.at.ino, dst.text); !st) {
      return st;
    }
  }
  if (auto st = touch_ctime(fs, src.at.ino, src.text); !st) return st;
  return finish(fs, src, dst, d);
}

Status do_exchange(Ext2Fs& fs, const Side& a, const Side& b) {
  if (b.at.ino == 0) return errno_error(ENOENT, "rename (exchange)", b.text);
  bool crossing = a.at.dir != b.at.dir;
  if (a.inode.is_dir()) {
    if (auto st = check_not_below(fs, a.at.ino, b.at.dir, b.text); !st) return st;
  }
  if (b.inode.is_dir()) {
    if (auto st = check_not_below(fs, b.at.ino, a.at.dir, a.text); !st) return st;
  }
  if (auto st = fs.begin_mutation("rename", a.text); !st) return st;
  if (auto st = replace_entry(fs, a.at.dir, a.at.name, b.at.ino, b.inode.mode(), a.text); !st)
    return st;
  if (auto st = replace_entry(fs, b.at.dir, b.at.name, a.at.ino, a.inode.mode(), b.text); !st)
    return st;
  ParentDeltas d;
  if (crossing && a.inode.is_dir()) {
    if (auto st = set_dotdot(fs, a.at.ino, b.at.dir, a.text); !st) return st;
    d.from -= 1;
    d.to += 1;
  }
  if (crossing && b.inode.is_dir()) {
    if (auto st = set_dotdot(fs, b.at.ino, a.at.dir, b.text); !st) return st;
    d.from += 1;
    d.to -= 1;
  }
  if (auto st = touch_ctime(fs, a.at.ino, a.text); !st) return st;
  if (auto st = touch_ctime(fs, b.at.ino, b.text); !st) return st;
  return finish(fs, a, b, d);
}

Result<Side> load_side(Ext2Fs& fs, const RelPath& path) {
  Side side;
  side.text = path.str();
  auto at = walk(fs, path, false);
  if (!at) return at.error();
  side.at = std::move(at).value();
  if (side.at.ino == 0) return side;
  auto inode = fs.read_inode(side.at.ino, "rename", side.text);
  if (!inode) return inode.error();
  side.inode = *inode;
  return side;
}

}  // namespace

Status op_rename(Ext2Fs& fs, const RelPath& from, const RelPath& to, RenameFlags flags) {
  if (from.is_root() || to.is_root()) return errno_error(EBUSY, "rename", from.str());
  if (flags.exchange && flags.no_replace) return errno_error(EINVAL, "rename", from.str());
  auto src = load_side(fs, from);
  if (!src) return src.error();
  if (src->at.ino == 0) return errno_error(ENOENT, "rename", src->text);
  auto dst = load_side(fs, to);
  if (!dst) return dst.error();
  if (flags.exchange) {
    if (dst->at.ino == src->at.ino) return {};
    return do_exchange(fs, *src, *dst);
  }
  if (dst->at.ino != 0 && flags.no_replace) return errno_error(EEXIST, "rename", dst->text);
  // Two names of one inode (or one name twice): POSIX says do nothing.
  if (dst->at.ino == src->at.ino) return {};
  return do_rename(fs, *src, *dst);
}

}  // namespace bridge::guest::ext2
