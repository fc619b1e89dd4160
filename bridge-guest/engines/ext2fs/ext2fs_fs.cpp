#include "bridge-guest/engines/ext2fs/ext2fs_fs.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "bridge-guest/engines/ext2fs/ext2fs_error.h"
#include "bridge-guest/engines/ext2fs/ext2fs_file.h"

namespace bridge::guest::ext2 {

void FilsysCloser::operator()(ext2_filsys fs) const {
  errcode_t err = ext2fs_close_free(&fs);
  if (err) spdlog::error("ext2fs: closing the filesystem failed: {}", errcode_message(err));
}

namespace {

errcode_t open_raw(const std::string& source, bool rw, bool exclusive, FilsysHandle& out) {
  int flags = EXT2_FLAG_64BITS;
  if (rw) flags |= EXT2_FLAG_RW;
  if (exclusive) flags |= EXT2_FLAG_EXCLUSIVE;
  ext2_filsys raw = nullptr;
  // ext2fs_open2 frees the handle itself when it fails.
  errcode_t err = ext2fs_open2(source.c_str(), nullptr, flags, 0, 0, unix_io_manager, &raw);
  if (!err) out.reset(raw);
  return err;
}

Error open_error(const std::string& source, errcode_t err) {
  std::string msg = errcode_message(err);
  if (err > 0 && err < 256)
    return make_error(static_cast<int>(err), "ext2fs: cannot open " + source + ": " + msg +
                                                 ": check the path and permissions");
  if (err == EXT2_ET_BAD_MAGIC || err == EXT2_ET_SHORT_READ)
    return make_error(EINVAL,
                      source + " is not an ext2/3/4 filesystem (" + msg + "): check the path");
  if (err == EXT2_ET_UNSUPP_FEATURE || err == EXT2_ET_REV_TOO_HIGH)
    return make_error(EOPNOTSUPP, source + " uses ext4 features this libext2fs cannot handle (" +
                                      msg + "): use the mount engine");
  return make_error(EIO,
                    source + " has a damaged superblock (" + msg + "): run e2fsck -p " + source);
}

// Why writing through libext2fs (which does not journal) would be unsafe; empty when it is safe.
std::string unsafe_to_write(ext2_super_block* sb, const std::string& source) {
  const std::string fix = "; run e2fsck -p " + source + " and re-export it";
  if (ext2fs_has_feature_journal_needs_recovery(sb))
    return "the journal needs recovery: serving read-only" + fix;
  if (!(sb->s_state & EXT2_VALID_FS))
    return "the filesystem was not cleanly unmounted: serving read-only" + fix;
  if (sb->s_state & EXT2_ERROR_FS) return "the filesystem has errors: serving read-only" + fix;
  if (ext2fs_has_feature_orphan_present(sb))
    return "the filesystem has unprocessed orphan inodes: serving read-only" + fix;
  if (ext2fs_has_feature_mmp(sb))
    return "the filesystem uses multi-mount protection, which this engine does not drive: "
           "serving read-only";
  return {};
}

Result<FilsysHandle> open_checked(const std::string& source, bool rw, bool exclusive,
                                  errcode_t* raw_err = nullptr) {
  FilsysHandle fs;
  errcode_t err = open_raw(source, rw, exclusive, fs);
  if (raw_err) *raw_err = err;
  if (err) return open_error(source, err);
  return fs;
}

Status check_source(const std::string& source, bool& is_block_device) {
  struct stat st {};
  // INVARIANT: stat(2) on a NUL-terminated path into a local struct; errno read right after.
  if (::stat(source.c_str(), &st) != 0) {
    int e = errno;
    return make_error(
        e, "ext2fs: cannot open " + source + ": " + std::strerror(e) + ": check the path");
  }
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
    return make_error(EINVAL, "ext2fs: " + source +
                                  " is neither an image file nor a block device: check the path");
  is_block_device = S_ISBLK(st.st_mode);
  return {};
}

// Allocation needs the block and inode bitmaps in memory.
Status prepare_writable(ext2_filsys fs, const std::string& source) {
  errcode_t err = ext2fs_read_bitmaps(fs);
  if (err) return ext2_error(err, "ext2fs_read_bitmaps", source);
  return {};
}

}  // namespace

Result<std::shared_ptr<Ext2Fs>> Ext2Fs::open(const std::string& source, bool read_only) {
  // Registers libext2fs's messages with com_err; idempotent.
  initialize_ext2_error_table();
  bool is_block_device = false;
  if (auto st = check_source(source, is_block_device); !st) return st.error();

  // Probe read-only first: an image we will not write is never opened for writing.
  auto probe = open_checked(source, false, false);
  if (!probe) return probe.error();
  FilsysHandle fs = std::move(probe).value();
  std::string reason = unsafe_to_write(fs->super, source);
  bool serve_read_only = read_only || !reason.empty();

  if (!serve_read_only) {
    fs.reset();
    errcode_t raw_err = 0;
    auto rw = open_checked(source, true, is_block_device, &raw_err);
    if (!rw && raw_err != EXT2_ET_RO_UNSUPP_FEATURE) return rw.error();
    if (rw) {
      fs = std::move(rw).value();
      if (auto st = prepare_writable(fs.get(), source); !st) return st.error();
    } else {
      reason = "it has features this libext2fs can read but not write: serving read-only";
      serve_read_only = true;
      auto again = open_checked(source, false, false);
      if (!again) return again.error();
      fs = std::move(again).value();
    }
  }

  if (!reason.empty() && !read_only) spdlog::warn("ext2fs {}: {}", source, reason);
  if (!reason.empty() && read_only) spdlog::info("ext2fs {}: {}", source, reason);
  std::string note = !reason.empty() ? reason : (read_only ? "read-only as requested" : "");
  return std::make_shared<Ext2Fs>(Token{}, source, std::move(fs), serve_read_only, std::move(note));
}

Ext2Fs::Ext2Fs(Token, std::string source, FilsysHandle fs, bool read_only, std::string note)
    : source_(std::move(source)),
      fs_(std::move(fs)),
      read_only_(read_only),
      note_(std::move(note)) {}

Ext2Fs::~Ext2Fs() {
  if (read_only_ || !marked_dirty_) return;  // fs_ closes without writing anything
  if (auto st = write_state(orphans_ == 0 && !suspect_); !st)
    spdlog::error("ext2fs {}: final flush failed: {}: run e2fsck -f {}", source_,
                  st.error().context, source_);
}

Status Ext2Fs::write_state(bool clean) {
  ext2_super_block* sb = fs_->super;
  if (clean)
    sb->s_state |= EXT2_VALID_FS;
  else
    sb->s_state &= ~EXT2_VALID_FS;
  ext2fs_mark_super_dirty(fs_.get());
  // Marking dirty writes only the superblocks; marking clean writes everything first.
  if (!clean) fs_->flags |= EXT2_FLAG_SUPER_ONLY;
  errcode_t err = ext2fs_flush2(fs_.get(), 0);
  fs_->flags &= ~EXT2_FLAG_SUPER_ONLY;
  if (err) return ext2_error(err, "ext2fs_flush2", source_);
  return {};
}

void Ext2Fs::mark_suspect(const Error& e) {
  if (!suspect_)
    spdlog::error("ext2fs {}: {}: the filesystem stays marked for checking; run e2fsck -f {}",
                  source_, e.context, source_);
  suspect_ = true;
}

Status Ext2Fs::check_writable(std::string_view what, std::string_view path) const {
  if (!read_only_) return {};
  std::string why = note_.empty() ? "read-only export" : "read-only export (" + note_ + ")";
  return make_error(EROFS, std::string(what) + " " + std::string(path) + ": " + why);
}

Status Ext2Fs::begin_mutation(std::string_view what, std::string_view path) {
  if (auto st = check_writable(what, path); !st) return st;
  if (marked_dirty_) return {};
  if (auto st = write_state(false); !st) {
    fs_->super->s_state |= EXT2_VALID_FS;
    return st;
  }
  marked_dirty_ = true;
  return {};
}

Status Ext2Fs::sync() {
  if (read_only_ || !marked_dirty_) return {};
  for (auto& [ino, weak] : open_) {
    if (auto node = weak.lock()) {
      if (auto st = node->flush(); !st) return st;
    }
  }
  bool clean = orphans_ == 0 && !suspect_;
  if (auto st = write_state(clean); !st) return st;
  if (clean) marked_dirty_ = false;
  return {};
}

Status Ext2Fs::fsync(bool data_only) {
  if (read_only_ || !marked_dirty_) return {};
  // OpenInode never keeps a dirty file block between calls, so flushing the io channel (its
  // block cache, then fsync) is enough for data.
  errcode_t err = data_only ? io_channel_flush(fs_->io) : ext2fs_flush2(fs_.get(), 0);
  if (err) return ext2_error(err, "fsync", source_);
  return {};
}

Result<Inode> Ext2Fs::read_inode(Ino ino, std::string_view what, std::string_view path) const {
  Inode inode;
  errcode_t err = ext2fs_read_inode_full(fs_.get(), ino, inode.base(), sizeof(inode.raw));
  if (err) return ext2_error(err, what, path);
  return inode;
}

Status Ext2Fs::write_inode(Ino ino, Inode& inode, std::string_view what, std::string_view path) {
  errcode_t err = ext2fs_write_inode_full(fs_.get(), ino, inode.base(), sizeof(inode.raw));
  if (err) return ext2_error(err, what, path);
  if (auto node = find_open(ino)) node->refresh_cached_inode(inode);
  return {};
}

std::shared_ptr<OpenInode> Ext2Fs::find_open(Ino ino) const {
  auto it = open_.find(ino);
  return it == open_.end() ? nullptr : it->second.lock();
}

void Ext2Fs::remember_open(Ino ino, const std::shared_ptr<OpenInode>& node) {
  open_[ino] = node;
}

void Ext2Fs::forget_open(Ino ino) {
  open_.erase(ino);
}

}  // namespace bridge::guest::ext2
