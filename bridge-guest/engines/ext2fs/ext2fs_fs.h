// Ext2Fs: the one owner of an open libext2fs filesystem (ext2_filsys) and of the state around
// it: read-only decision and its reason, the "not clean" marking of the superblock, and the table
// of inodes that have open files.
//
// Lifetime: shared by the engine and every open inode (OpenInode), so the filesystem is closed,
// flushed and marked clean only after the last of them is gone. Not thread-safe: every call
// runs under the dispatcher's serialization.
#pragma once

#include <ext2fs/ext2fs.h>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "bridge-guest/engines/ext2fs/ext2fs_inode.h"
#include "common/result.h"

namespace bridge::guest::ext2 {

class OpenInode;

struct FilsysCloser {
  void operator()(ext2_filsys fs) const;
};
// ext2_filsys is a pointer to the opaque struct_ext2_filsys.
using FilsysHandle = std::unique_ptr<struct_ext2_filsys, FilsysCloser>;

class Ext2Fs {
 public:
  // Opens `source`, read-write unless `read_only` or the superblock says writing is unsafe.
  static Result<std::shared_ptr<Ext2Fs>> open(const std::string& source, bool read_only);
  // Flushes, marks the filesystem clean (when this session dirtied it) and closes it.
  ~Ext2Fs();
  Ext2Fs(const Ext2Fs&) = delete;
  Ext2Fs& operator=(const Ext2Fs&) = delete;

  ext2_filsys fs() const { return fs_.get(); }
  const std::string& source() const { return source_; }
  bool read_only() const { return read_only_; }
  const std::string& note() const { return note_; }
  uint32_t block_size() const { return fs_->blocksize; }

  // Every mutating operation calls this first: EROFS on a read-only export; on the first
  // mutation since open or sync, clears EXT2_VALID_FS and writes the superblock, so a crash from
  // here on leaves an image that e2fsck knows to check.
  Status begin_mutation(std::string_view what, std::string_view path);
  // EROFS on a read-only export, without marking anything (opening for writing is no mutation).
  Status check_writable(std::string_view what, std::string_view path) const;
  // Writes everything out and, unless an unlinked file is still open or a mutation failed with
  // EIO, marks the fs clean.
  Status sync();
  // A mutation that fails with EIO may have stopped half way: from then on the filesystem is
  // never marked clean by this session, so the next open serves it read-only until e2fsck ran.
  template <typename R>
  R checked(R result) {
    if (!result.ok() && result.code() == EIO) mark_suspect(result.error());
    return result;
  }
  // fsync of a file: data reaches the device (data_only) or all metadata too; the fs stays
  // marked "not clean". A no-op when this session wrote nothing.
  Status fsync(bool data_only);

  Result<Inode> read_inode(Ino ino, std::string_view what, std::string_view path) const;
  // Writes the whole inode and refreshes the cached copy of an open file of that inode.
  Status write_inode(Ino ino, Inode& inode, std::string_view what, std::string_view path);

  // Open-inode table: at most one OpenInode per inode, shared by all its OpenFiles.
  std::shared_ptr<OpenInode> find_open(Ino ino) const;
  void remember_open(Ino ino, const std::shared_ptr<OpenInode>& node);
  void forget_open(Ino ino);
  // Unlinked-but-open inodes keep the filesystem "not clean" until they are freed.
  void orphan_added() { ++orphans_; }
  void orphan_freed() { --orphans_; }

 private:
  struct Token {};  // only open() constructs, through make_shared

 public:
  Ext2Fs(Token, std::string source, FilsysHandle fs, bool read_only, std::string note);

 private:
  Status write_state(bool clean);
  void mark_suspect(const Error& e);

  std::string source_;
  FilsysHandle fs_;
  bool read_only_;
  std::string note_;
  bool marked_dirty_ = false;  // this session cleared EXT2_VALID_FS on disk
  int orphans_ = 0;
  bool suspect_ = false;  // a mutation failed with EIO
  std::unordered_map<Ino, std::weak_ptr<OpenInode>> open_;
};

}  // namespace bridge::guest::ext2
