// Directory-entry primitives shared by create, remove and rename.

#include <cstring>
#include <string>

#include "bridge-guest/engines/ext2fs/ext2fs_error.h"
#include "bridge-guest/engines/ext2fs/ext2fs_ops.h"

namespace bridge::guest::ext2 {

namespace {

bool name_is(const ext2_dir_entry* dirent, std::string_view name) {
  auto len = static_cast<std::size_t>(ext2fs_dirent_name_len(dirent));
  return len == name.size() && std::memcmp(dirent->name, name.data(), len) == 0;
}

// Runs fn(dirent) over a directory's live entries; fn returns DIRENT_* flags.
template <typename Fn>
errcode_t for_each_entry(ext2_filsys fs, Ino dir, Fn& fn) {
  auto trampoline = [](ext2_ino_t, int, ext2_dir_entry* dirent, int, int, char*,
                       void* priv) -> int {
    // INVARIANT: priv is the &fn passed to ext2fs_dir_iterate2 below, alive for the whole call.
    return (*static_cast<Fn*>(priv))(dirent);
  };
  return ext2fs_dir_iterate2(fs, dir, 0, nullptr, trampoline, &fn);
}

// Points the entry called `name` at ino with the given EXT2_FT_* type; `found` says whether it
// existed.
errcode_t retarget(ext2_filsys fs, Ino dir, std::string_view name, Ino ino, int type, bool& found) {
  found = false;
  bool with_type = ext2fs_has_feature_filetype(fs->super);
  auto fn = [&](ext2_dir_entry* dirent) -> int {
    if (dirent->inode == 0 || !name_is(dirent, name)) return 0;
    dirent->inode = ino;
    if (with_type) ext2fs_dirent_set_file_type(dirent, type);
    found = true;
    return DIRENT_CHANGED | DIRENT_ABORT;
  };
  return for_each_entry(fs, dir, fn);
}

}  // namespace

Status add_entry(Ext2Fs& fs, Ino dir, const std::string& name, Ino ino, uint32_t mode,
                 std::string_view path) {
  ext2_filsys raw = fs.fs();
  int type = dirent_type_from_mode(mode);
  errcode_t err = ext2fs_link(raw, dir, name.c_str(), ino, type);
  if (err == EXT2_ET_DIR_NO_SPACE) {
    // A hashed (htree) directory grows inside ext2fs_link; appending a block it does not index
    // would corrupt it, so only linear directories are expanded here.
    auto dir_inode = fs.read_inode(dir, "link: read directory", path);
    if (!dir_inode) return dir_inode.error();
    if (dir_inode->raw.i_flags & EXT2_INDEX_FL)
      return errno_error(ENOSPC, "link (htree full)", path);
    err = ext2fs_expand_dir(raw, dir);
    if (err) return ext2_error(err, "link: ext2fs_expand_dir", path);
    err = ext2fs_link(raw, dir, name.c_str(), ino, type);
  }
  if (err) return ext2_error(err, "link: ext2fs_link", path);
  return {};
}

Status replace_entry(Ext2Fs& fs, Ino dir, const std::string& name, Ino ino, uint32_t mode,
                     std::string_view path) {
  bool found = false;
  errcode_t err = retarget(fs.fs(), dir, name, ino, dirent_type_from_mode(mode), found);
  if (err) return ext2_error(err, "rename: ext2fs_dir_iterate2", path);
  if (!found) return errno_error(ENOENT, "rename", path);
  return {};
}

Status remove_entry(Ext2Fs& fs, Ino dir, const std::string& name, Ino ino, std::string_view path) {
  errcode_t err = ext2fs_unlink(fs.fs(), dir, name.c_str(), ino, 0);
  if (err) return ext2_error(err, "unlink: ext2fs_unlink", path);
  return {};
}

Status set_dotdot(Ext2Fs& fs, Ino dir, Ino parent, std::string_view path) {
  bool found = false;
  errcode_t err = retarget(fs.fs(), dir, "..", parent, EXT2_FT_DIR, found);
  if (err) return ext2_error(err, "rename: update \"..\"", path);
  if (!found)
    return make_error(EIO, "rename " + std::string(path) + ": directory has no \"..\": run e2fsck");
  return {};
}

Result<bool> dir_is_empty(Ext2Fs& fs, Ino dir, std::string_view path) {
  bool empty = true;
  auto fn = [&](ext2_dir_entry* dirent) -> int {
    if (dirent->inode == 0 || name_is(dirent, ".") || name_is(dirent, "..")) return 0;
    empty = false;
    return DIRENT_ABORT;
  };
  errcode_t err = for_each_entry(fs.fs(), dir, fn);
  if (err) return ext2_error(err, "ext2fs_dir_iterate2", path);
  return empty;
}

Status update_dir(Ext2Fs& fs, Ino dir, int link_delta, std::string_view path) {
  auto inode = fs.read_inode(dir, "update directory", path);
  if (!inode) return inode.error();
  uint16_t& links = inode->raw.i_links_count;
  // With dir_nlink a count of 1 means "too many to count": it stays 1 either way.
  if (link_delta > 0 && links != 1) {
    links = (links + link_delta >= kLinkMax && ext2fs_has_feature_dir_nlink(fs.fs()->super))
                ? 1
                : static_cast<uint16_t>(links + link_delta);
  } else if (link_delta < 0 && links > 1) {
    links = static_cast<uint16_t>(links + link_delta);
  }
  touch_contents(*inode, now());
  return fs.write_inode(dir, *inode, "update directory", path);
}

Result<bool> is_within(Ext2Fs& fs, Ino dir, Ino ancestor, std::string_view path) {
  // A directory tree cannot be deeper than the number of inodes; stop well before that on a
  // corrupted ".." cycle.
  for (int depth = 0; depth < 65536; ++depth) {
    if (dir == ancestor) return true;
    if (dir == kRootIno) return false;
    auto parent = lookup_child(fs, dir, "..", path);
    if (!parent) return parent.error();
    if (*parent == 0 || *parent == dir)
      return make_error(EIO, "rename " + std::string(path) + ": broken \"..\" chain: run e2fsck");
    dir = *parent;
  }
  return make_error(EIO, "rename " + std::string(path) + ": \"..\" chain too deep: run e2fsck");
}

}  // namespace bridge::guest::ext2
