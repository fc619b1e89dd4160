// The engine's operations as free functions over an Ext2Fs, one group per file:
//   ext2fs_namei.cpp   path walking (confinement, symlinks)
//   ext2fs_dirent.cpp  directory-entry primitives (add, replace, remove, "..", emptiness)
//   ext2fs_attr.cpp    getattr, setattr, readlink, statfs
//   ext2fs_create.cpp  new inodes: files, mkdir, symlink, link
//   ext2fs_remove.cpp  unlink, rmdir, dropping links and freeing inodes
//   ext2fs_punch.cpp   freeing blocks (around a libext2fs 1.47.0 bug)
//   ext2fs_rename.cpp  rename and exchange
//   ext2fs_readdir.cpp readdir pages and cookies
//   ext2fs_xattr.cpp   extended attributes
//   ext2fs_open.cpp    open and the OpenFile implementations
// Every function takes the path it serves for error context.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bridge-guest/engines/ext2fs/ext2fs_fs.h"
#include "bridge-guest/engines/ext2fs/ext2fs_inode.h"
#include "bridge-guest/engines/fs_engine.h"
#include "common/fs_types.h"
#include "common/name_component.h"
#include "common/result.h"

namespace bridge::guest::ext2 {

inline constexpr int kMaxSymlinkHops = 40;
// ext4's limit on hard links (EXT4_LINK_MAX); directories past it report 1 with dir_nlink.
inline constexpr uint16_t kLinkMax = 65000;

// ---- namei ----
// Where a path leads: the directory holding the final name, the name, and its inode (0 when the
// name does not exist there). The root path gives {root, "", root}.
struct Lookup {
  Ino dir = 0;
  std::string name;
  Ino ino = 0;
};
// Walks from the root inode, following intermediate symlinks with chroot semantics (absolute
// targets restart at the root, ".." at the root stays there), at most kMaxSymlinkHops; the final
// component is followed only when follow_final. Missing intermediate: ENOENT; non-directory
// intermediate: ENOTDIR.
Result<Lookup> walk(Ext2Fs& fs, const RelPath& path, bool follow_final);
// Like walk, but the final name must exist: ENOENT otherwise.
Result<Lookup> walk_existing(Ext2Fs& fs, const RelPath& path, bool follow_final);
// The inode `name` names in dir, or 0.
Result<Ino> lookup_child(Ext2Fs& fs, Ino dir, std::string_view name, std::string_view path);
Result<std::string> read_symlink(Ext2Fs& fs, Ino ino, const Inode& inode, std::string_view path);

// ---- directory entries ----
// Adds name -> ino, growing the directory when its blocks are full.
Status add_entry(Ext2Fs& fs, Ino dir, const std::string& name, Ino ino, uint32_t mode,
                 std::string_view path);
// Points the existing entry `name` at ino (rename over an existing target, exchange).
Status replace_entry(Ext2Fs& fs, Ino dir, const std::string& name, Ino ino, uint32_t mode,
                     std::string_view path);
Status remove_entry(Ext2Fs& fs, Ino dir, const std::string& name, Ino ino, std::string_view path);
Status set_dotdot(Ext2Fs& fs, Ino dir, Ino parent, std::string_view path);
Result<bool> dir_is_empty(Ext2Fs& fs, Ino dir, std::string_view path);
// Adds link_delta to a directory's link count and sets its mtime and ctime to now.
Status update_dir(Ext2Fs& fs, Ino dir, int link_delta, std::string_view path);
// True when `dir` is `ancestor` or lies below it (walking ".." up to the root).
Result<bool> is_within(Ext2Fs& fs, Ino dir, Ino ancestor, std::string_view path);

// ---- attributes ----
Result<Attr> op_getattr(Ext2Fs& fs, const RelPath& path, bool follow);
Result<Attr> op_setattr(Ext2Fs& fs, const RelPath& path, const SetAttr& changes);
Result<Attr> setattr_ino(Ext2Fs& fs, Ino ino, const SetAttr& changes, std::string_view path);
Result<Attr> getattr_ino(Ext2Fs& fs, Ino ino, std::string_view path);
Result<std::string> op_readlink(Ext2Fs& fs, const RelPath& path);
Result<StatFs> op_statfs(Ext2Fs& fs);

// ---- creation ----
// Creates a regular file `name` in dir; the caller has checked that it does not exist.
Result<Ino> create_file(Ext2Fs& fs, Ino dir, const std::string& name, uint32_t mode,
                        const Creds& creds, std::string_view path);
Result<Attr> op_mkdir(Ext2Fs& fs, const RelPath& path, uint32_t mode, const Creds& creds);
Result<Attr> op_symlink(Ext2Fs& fs, const RelPath& path, std::string_view target,
                        const Creds& creds);
Result<Attr> op_link(Ext2Fs& fs, const RelPath& existing, const RelPath& new_path);

// ---- removal ----
Status op_unlink(Ext2Fs& fs, const RelPath& path);
Status op_rmdir(Ext2Fs& fs, const RelPath& path);
// Drops one link of a non-directory; frees it at zero unless it is open (then it is an orphan).
Status drop_link(Ext2Fs& fs, Ino ino, std::string_view path);
// Removes an (empty) directory inode whose entry is already gone.
Status drop_dir(Ext2Fs& fs, Ino ino, std::string_view path);
// Releases the inode's blocks, xattr block and inode number.
Status free_inode(Ext2Fs& fs, Ino ino, Inode& inode, std::string_view path);

// ---- punching (ext2fs_punch.cpp) ----
// Works around libext2fs 1.47.0 failing to free an extent that ends at the filesystem's last
// block: if this extent-mapped file maps that block at or after from_lblk, unmaps and frees it.
Status release_last_block(Ext2Fs& fs, Ino ino, blk64_t from_lblk, std::string_view path);
// Frees every data block of inode (writing it first and reloading it after).
Status punch_all(Ext2Fs& fs, Ino ino, Inode& inode, std::string_view path);

// ---- rename ----
Status op_rename(Ext2Fs& fs, const RelPath& from, const RelPath& to, RenameFlags flags);

// ---- readdir ----
Result<DirPage> op_readdir(Ext2Fs& fs, const RelPath& dir, uint64_t cookie, uint32_t max_entries,
                           bool with_attrs);

// ---- xattrs ----
Result<std::vector<uint8_t>> op_getxattr(Ext2Fs& fs, const RelPath& path, std::string_view name);
Status op_setxattr(Ext2Fs& fs, const RelPath& path, std::string_view name,
                   std::span<const uint8_t> value, XattrSetFlags flags);
Result<std::vector<std::string>> op_listxattr(Ext2Fs& fs, const RelPath& path);
Status op_removexattr(Ext2Fs& fs, const RelPath& path, std::string_view name);

// ---- open ----
Result<std::unique_ptr<OpenFile>> op_open(const std::shared_ptr<Ext2Fs>& fs, const RelPath& path,
                                          const OpenFlags& flags, uint32_t create_mode,
                                          const Creds& creds);

}  // namespace bridge::guest::ext2
