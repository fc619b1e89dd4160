#include "bridge-guest/engines/ext2fs/ext2fs_file.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "bridge-guest/engines/ext2fs/ext2fs_error.h"
#include "bridge-guest/engines/ext2fs/ext2fs_ops.h"
#include "bridge-guest/engines/ext2fs/ext2fs_read_map.h"

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
  bool mappable = !(inode->i_flags & EXT4_INLINE_DATA_FL);
  if (mappable && out.size() >= kMappedReadMinBlocks * fs_->block_size())
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
  errcode_t flush_err = ext2fs_file_flush(file_.get());
  if (!err) err = flush_err;
  if (err && done == 0) return ext2_error(err, "write: ext2fs_file_write", path);

  auto inode = fs_->read_inode(ino_, "write: read inode", path);
  if (!inode) return inode.error();
  touch_contents(*inode, now());
  if (auto st = fs_->write_inode(ino_, *inode, "write: write inode", path); !st) return st.error();
  return done;  // short only when the disk filled up part way
}

Status OpenInode::set_size(uint64_t new_size, std::string_view path) {
  if (auto st = flush(); !st) return st;
  errcode_t err = ext2fs_file_set_size2(file_.get(), new_size);
  if (err) return ext2_error(err, "truncate: ext2fs_file_set_size2", path);
  // The handle may still buffer a block that lay past the new end: start afresh.
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
