// open(2) and the OpenFile implementations: one for regular files (over a shared OpenInode),
// one for directories (attributes only: their contents are read through readdir).
#include <string>

#include "bridge-guest/engines/ext2fs/ext2fs_error.h"
#include "bridge-guest/engines/ext2fs/ext2fs_file.h"
#include "bridge-guest/engines/ext2fs/ext2fs_ops.h"

namespace bridge::guest::ext2 {

namespace {

class RegularFile final : public OpenFile {
 public:
  RegularFile(std::shared_ptr<OpenInode> node, OpenFlags flags, std::string path)
      : node_(std::move(node)), flags_(flags), path_(std::move(path)) {}

  Result<std::size_t> read(uint64_t offset, std::span<std::byte> out) override {
    if (!flags_.read) return errno_error(EBADF, "read (not open for reading)", path_);
    return node_->read(offset, out, path_);
  }

  Result<std::size_t> write(uint64_t offset, std::span<const std::byte> data) override {
    if (!flags_.write && !flags_.append)
      return errno_error(EBADF, "write (not open for writing)", path_);
    return node_->fs().checked(node_->write(offset, data, flags_.append, path_));
  }

  Result<Attr> getattr() override { return getattr_ino(node_->fs(), node_->ino(), path_); }

  Result<Attr> setattr(const SetAttr& changes) override {
    return node_->fs().checked(setattr_ino(node_->fs(), node_->ino(), changes, path_));
  }

  Status fsync(bool data_only) override {
    if (auto st = node_->flush(); !st) return st;
    return node_->fs().fsync(data_only);
  }

 private:
  std::shared_ptr<OpenInode> node_;
  OpenFlags flags_;
  std::string path_;
};

class Directory final : public OpenFile {
 public:
  Directory(std::shared_ptr<Ext2Fs> fs, Ino ino, std::string path)
      : fs_(std::move(fs)), ino_(ino), path_(std::move(path)) {}

  Result<std::size_t> read(uint64_t, std::span<std::byte>) override {
    return errno_error(EISDIR, "read", path_);
  }
  Result<std::size_t> write(uint64_t, std::span<const std::byte>) override {
    return errno_error(EISDIR, "write", path_);
  }
  Result<Attr> getattr() override { return getattr_ino(*fs_, ino_, path_); }
  Result<Attr> setattr(const SetAttr& changes) override {
    return fs_->checked(setattr_ino(*fs_, ino_, changes, path_));
  }
  Status fsync(bool data_only) override { return fs_->fsync(data_only); }

 private:
  std::shared_ptr<Ext2Fs> fs_;
  Ino ino_;
  std::string path_;
};

bool wants_write(const OpenFlags& f) {
  return f.write || f.append || f.truncate;
}

// Linux's checks on an existing object, in Linux's order.
Status check_existing(const Inode& inode, const OpenFlags& flags, std::string_view path) {
  // Reached only when the final symlink was not followed: O_NOFOLLOW.
  if (inode.is_symlink()) return errno_error(ELOOP, "open (O_NOFOLLOW on a symlink)", path);
  if (flags.directory && !inode.is_dir()) return errno_error(ENOTDIR, "open", path);
  if (inode.is_dir() && wants_write(flags)) return errno_error(EISDIR, "open", path);
  // Device nodes, fifos and sockets in an image mean nothing on the host.
  if (!inode.is_dir() && !inode.is_reg()) return errno_error(ENXIO, "open (special file)", path);
  return {};
}

// The inode to open: the existing one, or a new regular file when asked to create.
Result<Ino> find_or_create(Ext2Fs& fs, const RelPath& path, const OpenFlags& flags,
                           uint32_t create_mode, const Creds& creds, bool& created) {
  const std::string text = path.str();
  // O_CREAT|O_EXCL never follows a final symlink: the name itself must be free.
  bool follow = !flags.no_follow && !(flags.create && flags.exclusive);
  auto found = walk(fs, path, follow);
  if (!found) return found.error();
  if (found->ino != 0) {
    if (flags.create && flags.exclusive) return errno_error(EEXIST, "open (O_EXCL)", text);
    return found->ino;
  }
  if (!flags.create || flags.directory) return errno_error(ENOENT, "open", text);
  if (auto st = fs.begin_mutation("create", text); !st) return st.error();
  created = true;
  return create_file(fs, found->dir, found->name, create_mode, creds, text);
}

}  // namespace

Result<std::unique_ptr<OpenFile>> op_open(const std::shared_ptr<Ext2Fs>& fs, const RelPath& path,
                                          const OpenFlags& flags, uint32_t create_mode,
                                          const Creds& creds) {
  const std::string text = path.str();
  bool created = false;
  auto ino = find_or_create(*fs, path, flags, create_mode, creds, created);
  if (!ino) return ino.error();
  auto inode = fs->read_inode(*ino, "open", text);
  if (!inode) return inode.error();
  if (auto st = check_existing(*inode, flags, text); !st) return st.error();
  if (wants_write(flags)) {
    if (auto st = fs->check_writable("open", text); !st) return st.error();
  }
  if (inode->is_dir())
    return std::unique_ptr<OpenFile>(std::make_unique<Directory>(fs, *ino, text));

  auto node = acquire_open_inode(fs, *ino, text);
  if (!node) return node.error();
  if (flags.truncate && !created && inode->size() > 0) {
    SetAttr to_zero;
    to_zero.size = 0;
    if (auto st = setattr_ino(*fs, *ino, to_zero, text); !st) return st.error();
  }
  return std::unique_ptr<OpenFile>(
      std::make_unique<RegularFile>(std::move(node).value(), flags, text));
}

}  // namespace bridge::guest::ext2
