// In-memory inodes and their conversion to the engine's value types: ownership, timestamps with
// nanoseconds in the large-inode extra fields, file types, Attr.
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstdint>

#include "common/fs_types.h"

namespace bridge::guest::ext2 {

using Ino = ext2_ino_t;
inline constexpr Ino kRootIno = EXT2_ROOT_INO;

// A whole inode as libext2fs reads it with ext2fs_read_inode_full: the 128-byte base followed by
// the large-inode fields. On 128-byte-inode filesystems the large part stays zero
// (i_extra_isize == 0), which every accessor below honours.
struct Inode {
  ext2_inode_large raw{};

  ext2_inode* base() {
    // INVARIANT: ext2_inode_large starts with exactly the fields of ext2_inode (libext2fs's own
    // EXT2_INODE() macro performs this cast), so the base view aliases the first 128 bytes.
    return reinterpret_cast<ext2_inode*>(&raw);
  }
  const ext2_inode* base() const {
    // INVARIANT: as above.
    return reinterpret_cast<const ext2_inode*>(&raw);
  }

  uint32_t mode() const { return raw.i_mode; }
  uint32_t type() const { return raw.i_mode & LINUX_S_IFMT; }
  bool is_dir() const { return LINUX_S_ISDIR(raw.i_mode); }
  bool is_reg() const { return LINUX_S_ISREG(raw.i_mode); }
  bool is_symlink() const { return LINUX_S_ISLNK(raw.i_mode); }
  uint64_t size() const { return EXT2_I_SIZE(&raw); }
  uint32_t uid() const;
  uint32_t gid() const;
  void set_uid(uint32_t uid);
  void set_gid(uint32_t gid);
};

enum class TimeField { atime, mtime, ctime, crtime };

// The current wall-clock time.
Timestamp now();
Timestamp get_time(const Inode& inode, TimeField field);
// Stores seconds (clamped to what the inode can hold) and, when the inode is large enough,
// nanoseconds and the epoch bits in the *_extra field.
void set_time(Inode& inode, TimeField field, Timestamp t);
// mtime and ctime to t: what a change of contents does.
void touch_contents(Inode& inode, Timestamp t);

// i_extra_isize for a new inode on this filesystem (0 on 128-byte inodes).
uint16_t new_extra_isize(ext2_filsys fs);

// EXT2_FT_* directory-entry type for an inode mode.
int dirent_type_from_mode(uint32_t mode);
// DT_* for a directory entry's EXT2_FT_* type (DT_UNKNOWN when absent).
uint8_t dt_from_dirent_type(int ext2_type);
uint8_t dt_from_mode(uint32_t mode);

Attr to_attr(ext2_filsys fs, Ino ino, const Inode& inode);

}  // namespace bridge::guest::ext2
