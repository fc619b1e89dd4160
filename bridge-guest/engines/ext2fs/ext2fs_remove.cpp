// unlink, rmdir, and what happens to an inode when its last link goes.
#include <ctime>
#include <string>
#include <vector>

#include "bridge-guest/engines/ext2fs/ext2fs_error.h"
#include "bridge-guest/engines/ext2fs/ext2fs_file.h"
#include "bridge-guest/engines/ext2fs/ext2fs_ops.h"
#include "bridge-guest/engines/ext2fs/ext2fs_xattr_handle.h"

namespace bridge::guest::ext2 {

namespace {

// With ea_inode, large xattr values live in inodes of their own: removing every xattr through
// the handle drops their references. The handle works on the on-disk inode, so `inode` is
// written first and read back after.
Status release_ea_inodes(Ext2Fs& fs, Ino ino, Inode& inode, std::string_view path) {
  if (auto st = fs.write_inode(ino, inode, "unlink: write inode", path); !st) return st;
  auto h = open_xattrs(fs, ino, path);
  if (!h) return h.error();
  std::vector<std::string> names;
  auto collect = [](char* name, char*, size_t, void* data) -> int {
    // INVARIANT: data is &names, passed to ext2fs_xattrs_iterate just below.
    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
    return 0;
  };
  errcode_t err = ext2fs_xattrs_iterate(h->get(), collect, &names);
  for (const auto& name : names) {
    if (!err) err = ext2fs_xattr_remove(h->get(), name.c_str());
  }
  if (err) return ext2_error(err, "unlink: remove xattrs", path);
  h->reset();
  auto fresh = fs.read_inode(ino, "unlink: read inode", path);
  if (!fresh) return fresh.error();
  inode = *fresh;
  return {};
}

}  // namespace

Status free_inode(Ext2Fs& fs, Ino ino, Inode& inode, std::string_view path) {
  ext2_filsys raw = fs.fs();
  if (ext2fs_has_feature_ea_inode(raw->super)) {
    if (auto st = release_ea_inodes(fs, ino, inode, path); !st) return st;
  }
  errcode_t err = ext2fs_free_ext_attr(raw, ino, &inode.raw);
  if (err) return ext2_error(err, "unlink: ext2fs_free_ext_attr", path);
  if (auto st = punch_all(fs, ino, inode, path); !st) return st;
  inode.raw.i_links_count = 0;
  // On-disk dtime is 32 bits of seconds, as libext2fs and the kernel store it.
  inode.raw.i_dtime = static_cast<uint32_t>(::time(nullptr));
  if (auto st = fs.write_inode(ino, inode, "unlink: write inode", path); !st) return st;
  ext2fs_inode_alloc_stats2(raw, ino, -1, inode.is_dir() ? 1 : 0);
  return {};
}

Status drop_link(Ext2Fs& fs, Ino ino, std::string_view path) {
  auto inode = fs.read_inode(ino, "unlink: read inode", path);
  if (!inode) return inode.error();
  if (inode->raw.i_links_count > 0) inode->raw.i_links_count--;
  set_time(*inode, TimeField::ctime, now());
  if (inode->raw.i_links_count > 0) return fs.write_inode(ino, *inode, "unlink: write inode", path);
  if (auto node = fs.find_open(ino)) {
    // Still open: like the kernel, keep the data until the last close.
    if (auto st = fs.write_inode(ino, *inode, "unlink: write inode", path); !st) return st;
    node->mark_orphan();
    return {};
  }
  return free_inode(fs, ino, *inode, path);
}

Status drop_dir(Ext2Fs& fs, Ino ino, std::string_view path) {
  auto inode = fs.read_inode(ino, "rmdir: read inode", path);
  if (!inode) return inode.error();
  return free_inode(fs, ino, *inode, path);
}

Status op_unlink(Ext2Fs& fs, const RelPath& path) {
  const std::string text = path.str();
  if (path.is_root()) return errno_error(EISDIR, "unlink", text);
  auto found = walk_existing(fs, path, false);
  if (!found) return found.error();
  auto inode = fs.read_inode(found->ino, "unlink", text);
  if (!inode) return inode.error();
  if (inode->is_dir()) return errno_error(EISDIR, "unlink", text);
  if (auto st = fs.begin_mutation("unlink", text); !st) return st;
  if (auto st = remove_entry(fs, found->dir, found->name, found->ino, text); !st) return st;
  if (auto st = drop_link(fs, found->ino, text); !st) return st;
  return update_dir(fs, found->dir, 0, text);
}

Status op_rmdir(Ext2Fs& fs, const RelPath& path) {
  const std::string text = path.str();
  if (path.is_root()) return errno_error(EBUSY, "rmdir", text);
  auto found = walk_existing(fs, path, false);
  if (!found) return found.error();
  auto inode = fs.read_inode(found->ino, "rmdir", text);
  if (!inode) return inode.error();
  if (!inode->is_dir()) return errno_error(ENOTDIR, "rmdir", text);
  auto empty = dir_is_empty(fs, found->ino, text);
  if (!empty) return empty.error();
  if (!*empty) return errno_error(ENOTEMPTY, "rmdir", text);
  if (auto st = fs.begin_mutation("rmdir", text); !st) return st;
  if (auto st = remove_entry(fs, found->dir, found->name, found->ino, text); !st) return st;
  if (auto st = drop_dir(fs, found->ino, text); !st) return st;
  return update_dir(fs, found->dir, -1, text);  // the removed directory's ".." is gone
}

}  // namespace bridge::guest::ext2
