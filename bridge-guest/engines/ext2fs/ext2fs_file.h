// OpenInode: the one libext2fs file handle (ext2_file_t) of an inode that has open files, shared
// by every OpenFile of that inode so they all see one cached inode and one block buffer.
//
// Coherence rules, relied on by the rest of the engine:
//  - the handle's block buffer is flushed (into the io channel) at the end of every write, so it
//    is never dirty between calls and bulk reads may go around it;
//  - whoever rewrites the inode on disk goes through Ext2Fs::write_inode, which refreshes the
//    handle's cached copy (refresh_cached_inode);
//  - size changes go through set_size, which reopens the handle so no stale block is cached.
// An inode unlinked while open becomes an orphan: it is freed when its last OpenFile closes.
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "bridge-guest/engines/ext2fs/ext2fs_fs.h"
#include "bridge-guest/engines/ext2fs/ext2fs_inode.h"
#include "common/result.h"

namespace bridge::guest::ext2 {

struct FileCloser {
  void operator()(ext2_file_t file) const;
};
// ext2_file_t is a pointer to the opaque struct ext2_file.
using FileHandle = std::unique_ptr<struct ext2_file, FileCloser>;

// Opens a libext2fs file handle, writable when the filesystem is.
Result<FileHandle> open_file_handle(ext2_filsys fs, Ino ino, std::string_view path);

// Inline data (EXT4_INLINE_DATA_FL: the bytes live in i_block and the system.data xattr).
// libext2fs 1.47.0's file I/O mishandles it (reads may run past i_size and past the caller's
// buffer; writes past its block buffer; fixed upstream in 2025), so the engine reads inline data
// itself and moves a file out of its inode before changing its contents or size.
Result<std::size_t> read_inline_data(Ext2Fs& fs, Ino ino, const Inode& inode, uint64_t offset,
                                     std::span<std::byte> out, std::string_view path);
// Moves the data of an inline-data file into a block; a no-op for other files.
Status expand_inline_data(Ext2Fs& fs, Ino ino, std::string_view path);

class OpenInode {
 public:
  OpenInode(std::shared_ptr<Ext2Fs> fs, Ino ino, FileHandle file);
  // Closes the handle and frees the inode when it was unlinked while open.
  ~OpenInode();
  OpenInode(const OpenInode&) = delete;
  OpenInode& operator=(const OpenInode&) = delete;

  Ino ino() const { return ino_; }
  Ext2Fs& fs() const { return *fs_; }
  uint64_t size() const;

  Result<std::size_t> read(uint64_t offset, std::span<std::byte> out, std::string_view path);
  // Writes all of data at offset (at end of file when append), then updates mtime and ctime.
  Result<std::size_t> write(uint64_t offset, std::span<const std::byte> data, bool append,
                            std::string_view path);
  Status set_size(uint64_t size, std::string_view path);
  Status flush();
  void refresh_cached_inode(const Inode& inode);
  void mark_orphan();

 private:
  Result<std::size_t> read_buffered(uint64_t offset, std::span<std::byte> out,
                                    std::string_view path);
  Status reopen(std::string_view path);
  // Drops the handle's block buffer without counting on it reaching the disk.
  Status discard_buffer(std::string_view path);
  // Before contents or size change: see expand_inline_data.
  Status leave_inode(std::string_view path);

  std::shared_ptr<Ext2Fs> fs_;
  Ino ino_;
  FileHandle file_;
  bool orphan_ = false;
};

// The OpenInode of ino: the existing one, or a new one registered with fs.
Result<std::shared_ptr<OpenInode>> acquire_open_inode(const std::shared_ptr<Ext2Fs>& fs, Ino ino,
                                                      std::string_view path);

}  // namespace bridge::guest::ext2
