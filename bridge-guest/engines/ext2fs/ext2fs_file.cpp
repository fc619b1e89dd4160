#include "bridge-guest/engines/ext2fs/ext2fs_file.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "bridge-guest/engines/ext2fs/ext2fs_error.h"
#include "bridge-guest/engines/ext2fs/ext2fs_ops.h"
#include "bridge-guest/engines/ext2fs/ext2fs_read_map.h"
#include "bridge-guest/engines/ext2fs/ext2fs_xattr_handle.h"

namespace bridge::guest::ext2 {

namespace {

// ext2fs_file_read/write take an unsigned int length.
constexpr std::size_t kMaxChunk = std::size_t{1} << 30;
// Below this many blocks the handle's own buffered path is as fast and simpler.
constexpr uint64_t kMappedReadMinBlocks = 4;

}  // namespace

void FileCloser::operator()(ext2_file_t file) const {
  errcode_t err = ext2fs_file_close(file);
  if (err) spdlog::error("ext2fs: closing a file failed: {}", errcode_message(err));
}

Result<FileHandle> open_file_handle(ext2_filsys fs, Ino ino, std::string_view path) {
  int flags = (fs->flags & EXT2_FLAG_RW) ? EXT2_FILE_WRITE : 0;
  ext2_file_t raw = nullptr;
  errcode_t err = ext2fs_file_open(fs, ino, flags, &raw);
  if (err) return ext2_error(err, "open: ext2fs_file_open", path);
  return FileHandle(raw);
}

Result<std::size_t> read_inline_data(Ext2Fs& fs, Ino ino, const Inode& inode, uint64_t offset,
                                     std::span<std::byte> out, std::string_view path) {
  uint64_t isize = inode.size();
  if (offset >= isize || out.empty()) return std::size_t{0};
  Inode copy = inode;  // the inline-data calls take a non-const inode
  size_t stored = 0;
  errcode_t err = ext2fs_inline_data_size(fs.fs(), ino, &stored);
  if (err) return ext2_error(err, "read: ext2fs_inline_data_size", path);
  std::vector<std::byte> data(stored);
  err = ext2fs_inline_data_get(fs.fs(), ino, copy.base(), data.data(), &stored);
  if (err) return ext2_error(err, "read: ext2fs_inline_data_get", path);
  auto n = static_cast<std::size_t>(std::min<uint64_t>(out.size(), isize - offset));
  // Bytes past what is stored (but inside i_size) read as zeros.
  std::size_t from_data = offset < stored ? std::min<std::size_t>(n, stored - offset) : 0;
  if (from_data > 0) std::memcpy(out.data(), data.data() + offset, from_data);
  std::memset(out.data() + from_data, 0, n - from_data);
  return n;
}

namespace {

Status remove_system_data(Ext2Fs& fs, Ino ino, std::string_view path) {
  auto h = open_xattrs(fs, ino, path);
  if (!h) return h.error();
  errcode_t err = ext2fs_xattr_remove(h->get(), "system.data");
  if (err) return ext2_error(err, "expand inline data: remove system.data", path);
  return {};
}

}  // namespace

// The steps of libext2fs's private ext2fs_inline_data_expand, with public calls and i_size (not
// the inline capacity) bytes rewritten: save the bytes, empty i_block and write the inode (so
// dropping system.data, which may free an xattr block, sees it), drop system.data, turn the
// inode into an empty block-mapped file, write the bytes back through the file layer.
Status expand_inline_data(Ext2Fs& fs, Ino ino, std::string_view path) {
  auto inode = fs.read_inode(ino, "expand inline data", path);
  if (!inode) return inode.error();
  if (!(inode->raw.i_flags & EXT4_INLINE_DATA_FL)) return {};
  std::vector<std::byte> data(static_cast<std::size_t>(inode->size()));
  auto got = read_inline_data(fs, ino, *inode, 0, data, path);
  if (!got) return got.error();

  std::memset(inode->raw.i_block, 0, sizeof(inode->raw.i_block));
  if (auto st = fs.write_inode(ino, *inode, "expand inline data", path); !st) return st;
  if (auto st = remove_system_data(fs, ino, path); !st) return st;
  inode = fs.read_inode(ino, "expand inline data", path);
  if (!inode) return inode.error();
  inode->raw.i_flags &= ~EXT4_INLINE_DATA_FL;
  inode->raw.i_size = 0;
  inode->raw.i_size_high = 0;
  if (ext2fs_has_feature_extents(fs.fs()->super)) {
    ext2_extent_handle_t handle = nullptr;  // initializes an empty extent header in i_block
    errcode_t err = ext2fs_extent_open2(fs.fs(), ino, inode->base(), &handle);
    if (err) return ext2_error(err, "expand inline data: ext2fs_extent_open2", path);
    ext2fs_extent_free(handle);
  }
  if (auto st = fs.write_inode(ino, *inode, "expand inline data", path); !st) return st;
  if (data.empty()) return {};

  auto file = open_file_handle(fs.fs(), ino, path);
  if (!file) return file.error();
  unsigned int wrote = 0;
  errcode_t err =
      ext2fs_file_write(file->get(), data.data(), static_cast<unsigned int>(data.size()), &wrote);
  if (!err) err = ext2fs_file_flush(file->get());
  if (err) return ext2_error(err, "expand inline data: ext2fs_file_write", path);
  return {};
}

OpenInode::OpenInode(std::shared_ptr<Ext2Fs> fs, Ino ino, FileHandle file)
    : fs_(std::move(fs)), ino_(ino), file_(std::move(file)) {}

OpenInode::~OpenInode() {
  fs_->forget_open(ino_);
  file_.reset();
  if (!orphan_) return;
  std::string what = "inode " + std::to_string(ino_);
  auto inode = fs_->read_inode(ino_, "free unlinked file", what);
  Status st = inode ? free_inode(*fs_, ino_, *inode, what) : Status(inode.error());
  if (!st)
    spdlog::error("ext2fs {}: {}: run e2fsck -f {}", fs_->source(), st.error().context,
                  fs_->source());
  fs_->orphan_freed();
}

uint64_t OpenInode::size() const {
  return EXT2_I_SIZE(ext2fs_file_get_inode(file_.get()));
}

Result<std::size_t> OpenInode::read(uint64_t offset, std::span<std::byte> out,
                                    std::string_view path) {
  uint64_t end = size();
  if (offset >= end || out.empty()) return std::size_t{0};
  out = out.first(static_cast<std::size_t>(std::min<uint64_t>(out.size(), end - offset)));
  const ext2_inode* inode = ext2fs_file_get_inode(file_.get());
  if (inode->i_flags & EXT4_INLINE_DATA_FL) {
    auto whole = fs_->read_inode(ino_, "read", path);
    if (!whole) return whole.error();
    return read_inline_data(*fs_, ino_, *whole, offset, out, path);
  }
  if (out.size() >= kMappedReadMinBlocks * fs_->block_size())
    return read_mapped(*fs_, ino_, *inode, offset, out, path);
  return read_buffered(offset, out, path);
}

Result<std::size_t> OpenInode::read_buffered(uint64_t offset, std::span<std::byte> out,
                                             std::string_view path) {
  errcode_t err = ext2fs_file_llseek(file_.get(), offset, EXT2_SEEK_SET, nullptr);
  if (err) return ext2_error(err, "read: ext2fs_file_llseek", path);
  std::size_t done = 0;
  while (done < out.size()) {
    auto want = static_cast<unsigned int>(std::min(out.size() - done, kMaxChunk));
    unsigned int got = 0;
    err = ext2fs_file_read(file_.get(), out.data() + done, want, &got);
    if (err) return ext2_error(err, "read: ext2fs_file_read", path);
    if (got == 0) break;
    done += got;
  }
  return done;
}

Result<std::size_t> OpenInode::write(uint64_t offset, std::span<const std::byte> data, bool append,
                                     std::string_view path) {
  if (auto st = fs_->begin_mutation("write", path); !st) return st.error();
  if (auto st = leave_inode(path); !st) return st.error();
  if (append) offset = size();
  if (data.size() > std::numeric_limits<uint64_t>::max() - offset)
    return errno_error(EFBIG, "write", path);
  errcode_t err = ext2fs_file_llseek(file_.get(), offset, EXT2_SEEK_SET, nullptr);
  if (err) return ext2_error(err, "write: ext2fs_file_llseek", path);
  std::size_t done = 0;
  while (done < data.size() && !err) {
    auto want = static_cast<unsigned int>(std::min(data.size() - done, kMaxChunk));
    unsigned int wrote = 0;
    err = ext2fs_file_write(file_.get(), data.data() + done, want, &wrote);
    done += wrote;
  }
  // Keep the rule that the buffer is never dirty between calls (see the header).
  if (!err) err = ext2fs_file_flush(file_.get());
  if (err) {
    // A failed block allocation leaves the block it was for dirty in the handle, beyond what
    // was written and counted: it must never reach the disk.
    if (auto st = discard_buffer(path); !st) return st.error();
    if (done == 0) return ext2_error(err, "write: ext2fs_file_write", path);
  }

  auto inode = fs_->read_inode(ino_, "write: read inode", path);
  if (!inode) return inode.error();
  touch_contents(*inode, now());
  if (auto st = fs_->write_inode(ino_, *inode, "write: write inode", path); !st) return st.error();
  return done;  // short only when the disk filled up part way
}

Status OpenInode::set_size(uint64_t new_size, std::string_view path) {
  if (auto st = flush(); !st) return st;
  if (auto st = leave_inode(path); !st) return st;
  uint64_t bs = fs_->block_size();
  if (auto st = release_last_block(*fs_, ino_, (new_size + bs - 1) / bs, path); !st) return st;
  if (auto st = reopen(path); !st) return st;
  errcode_t err = ext2fs_file_set_size2(file_.get(), new_size);
  if (err) return ext2_error(err, "truncate: ext2fs_file_set_size2", path);
  // The handle may still buffer a block that lay past the new end: start afresh.
  return reopen(path);
}

Status OpenInode::leave_inode(std::string_view path) {
  if (!(ext2fs_file_get_inode(file_.get())->i_flags & EXT4_INLINE_DATA_FL)) return {};
  if (auto st = expand_inline_data(*fs_, ino_, path); !st) return st;
  return reopen(path);
}

Status OpenInode::discard_buffer(std::string_view path) {
  // Closing flushes: that fails again for want of space, and the buffer is freed unwritten.
  (void)ext2fs_file_close(file_.release());
  return reopen(path);
}

Status OpenInode::reopen(std::string_view path) {
  file_.reset();
  auto handle = open_file_handle(fs_->fs(), ino_, path);
  if (!handle) return handle.error();
  file_ = std::move(handle).value();
  return {};
}

Status OpenInode::flush() {
  errcode_t err = ext2fs_file_flush(file_.get());
  if (err) return ext2_error(err, "flush: ext2fs_file_flush", "inode " + std::to_string(ino_));
  return {};
}

void OpenInode::refresh_cached_inode(const Inode& inode) {
  std::memcpy(ext2fs_file_get_inode(file_.get()), inode.base(), sizeof(ext2_inode));
}

void OpenInode::mark_orphan() {
  if (orphan_) return;
  orphan_ = true;
  fs_->orphan_added();
}

Result<std::shared_ptr<OpenInode>> acquire_open_inode(const std::shared_ptr<Ext2Fs>& fs, Ino ino,
                                                      std::string_view path) {
  if (auto node = fs->find_open(ino)) return node;
  auto handle = open_file_handle(fs->fs(), ino, path);
  if (!handle) return handle.error();
  auto node = std::make_shared<OpenInode>(fs, ino, std::move(handle).value());
  fs->remember_open(ino, node);
  return node;
}

}  // namespace bridge::guest::ext2
