// getattr, setattr, readlink, statfs.
#include <string>

#include "bridge-guest/engines/ext2fs/ext2fs_error.h"
#include "bridge-guest/engines/ext2fs/ext2fs_file.h"
#include "bridge-guest/engines/ext2fs/ext2fs_ops.h"

namespace bridge::guest::ext2 {

namespace {

bool changes_anything(const SetAttr& c) {
  return c.mode || c.uid || c.gid || c.size || c.atime.kind != TimeSet::Kind::omit ||
         c.mtime.kind != TimeSet::Kind::omit;
}

void apply_time(Inode& inode, TimeField field, const TimeSet& set, Timestamp t) {
  if (set.kind == TimeSet::Kind::now) set_time(inode, field, t);
  if (set.kind == TimeSet::Kind::at) set_time(inode, field, set.at);
}

// Size changes go through the inode's open handle when there is one, so its cached inode and
// block buffer stay right; otherwise through a short-lived handle.
Status truncate_ino(Ext2Fs& fs, Ino ino, uint64_t size, std::string_view path) {
  if (auto node = fs.find_open(ino)) return node->set_size(size, path);
  if (auto st = expand_inline_data(fs, ino, path); !st) return st;
  uint64_t bs = fs.block_size();
  if (auto st = release_last_block(fs, ino, (size + bs - 1) / bs, path); !st) return st;
  auto file = open_file_handle(fs.fs(), ino, path);
  if (!file) return file.error();
  errcode_t err = ext2fs_file_set_size2(file->get(), size);
  if (err) return ext2_error(err, "truncate: ext2fs_file_set_size2", path);
  file->reset();
  return {};
}

Status check_size_change(const Inode& inode, std::string_view path) {
  if (inode.is_dir()) return errno_error(EISDIR, "truncate", path);
  if (!inode.is_reg()) return errno_error(EINVAL, "truncate", path);
  return {};
}

void apply_owner_and_mode(Inode& inode, const SetAttr& c) {
  if (c.uid) inode.set_uid(*c.uid);
  if (c.gid) inode.set_gid(*c.gid);
  // As Linux does, a change of owner drops set-user-ID and (group-executable) set-group-ID.
  if ((c.uid || c.gid) && !c.mode && inode.is_reg()) {
    uint32_t drop = LINUX_S_ISUID | ((inode.raw.i_mode & LINUX_S_IXGRP) ? LINUX_S_ISGID : 0);
    inode.raw.i_mode = static_cast<uint16_t>(inode.raw.i_mode & ~drop);
  }
  if (c.mode) inode.raw.i_mode = static_cast<uint16_t>(inode.type() | (*c.mode & 07777));
}

}  // namespace

Result<Attr> getattr_ino(Ext2Fs& fs, Ino ino, std::string_view path) {
  auto inode = fs.read_inode(ino, "getattr", path);
  if (!inode) return inode.error();
  return to_attr(fs.fs(), ino, *inode);
}

Result<Attr> op_getattr(Ext2Fs& fs, const RelPath& path, bool follow) {
  auto found = walk_existing(fs, path, follow);
  if (!found) return found.error();
  return getattr_ino(fs, found->ino, path.str());
}

Result<Attr> setattr_ino(Ext2Fs& fs, Ino ino, const SetAttr& c, std::string_view path) {
  if (!changes_anything(c)) return getattr_ino(fs, ino, path);
  if (auto st = fs.begin_mutation("setattr", path); !st) return st.error();
  auto inode = fs.read_inode(ino, "setattr", path);
  if (!inode) return inode.error();
  if (c.mode && inode->is_symlink()) return errno_error(EOPNOTSUPP, "chmod (symlink)", path);
  Timestamp t = now();
  if (c.size) {
    if (auto st = check_size_change(*inode, path); !st) return st.error();
    if (auto st = truncate_ino(fs, ino, *c.size, path); !st) return st.error();
    inode = fs.read_inode(ino, "setattr", path);
    if (!inode) return inode.error();
    if (c.mtime.kind == TimeSet::Kind::omit) set_time(*inode, TimeField::mtime, t);
  }
  apply_owner_and_mode(*inode, c);
  apply_time(*inode, TimeField::atime, c.atime, t);
  apply_time(*inode, TimeField::mtime, c.mtime, t);
  set_time(*inode, TimeField::ctime, t);
  if (auto st = fs.write_inode(ino, *inode, "setattr", path); !st) return st.error();
  return to_attr(fs.fs(), ino, *inode);
}

Result<Attr> op_setattr(Ext2Fs& fs, const RelPath& path, const SetAttr& changes) {
  auto found = walk_existing(fs, path, false);
  if (!found) return found.error();
  return setattr_ino(fs, found->ino, changes, path.str());
}

Result<std::string> op_readlink(Ext2Fs& fs, const RelPath& path) {
  auto found = walk_existing(fs, path, false);
  if (!found) return found.error();
  auto inode = fs.read_inode(found->ino, "readlink", path.str());
  if (!inode) return inode.error();
  if (!inode->is_symlink()) return errno_error(EINVAL, "readlink (not a symlink)", path.str());
  return read_symlink(fs, found->ino, *inode, path.str());
}

Result<StatFs> op_statfs(Ext2Fs& fs) {
  ext2_filsys raw = fs.fs();
  ext2_super_block* sb = raw->super;
  // The group descriptors are authoritative; the superblock's totals may lag behind them after
  // the kernel used the filesystem.
  uint64_t free_blocks = 0;
  uint64_t free_inodes = 0;
  for (dgrp_t g = 0; g < raw->group_desc_count; ++g) {
    free_blocks += ext2fs_bg_free_blocks_count(raw, g);
    free_inodes += ext2fs_bg_free_inodes_count(raw, g);
  }
  free_blocks *= EXT2FS_CLUSTER_RATIO(raw);
  uint64_t reserved = ext2fs_r_blocks_count(sb);
  StatFs s;
  s.block_size = raw->blocksize;
  s.fragment_size = raw->blocksize;
  s.blocks = ext2fs_blocks_count(sb);
  s.blocks_free = free_blocks;
  s.blocks_available = free_blocks > reserved ? free_blocks - reserved : 0;
  s.files = sb->s_inodes_count;
  s.files_free = free_inodes;
  s.name_max = EXT2_NAME_LEN;
  return s;
}

}  // namespace bridge::guest::ext2
