#include "bridge-host/frontends/fuse/fuse_convert.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/xattr.h>

#include <cstring>

namespace bridge::host::fuse_impl {
namespace {

struct timespec to_timespec(const Timestamp& t) {
  return {.tv_sec = static_cast<time_t>(t.sec), .tv_nsec = static_cast<long>(t.nsec)};
}

}  // namespace

void to_stat(const Attr& attr, struct stat& out) {
  std::memset(&out, 0, sizeof out);
  out.st_ino = attr.ino;
  out.st_mode = attr.mode;
  out.st_nlink = attr.nlink;
  out.st_uid = attr.uid;
  out.st_gid = attr.gid;
  out.st_size = static_cast<off_t>(attr.size);
  out.st_blocks = static_cast<blkcnt_t>(attr.blocks);
  out.st_blksize = attr.blksize;
  out.st_rdev = attr.rdev;
  out.st_atim = to_timespec(attr.atime);
  out.st_mtim = to_timespec(attr.mtime);
  out.st_ctim = to_timespec(attr.ctime);
}

void to_stat(const DirEntry& entry, bool with_attrs, struct stat& out) {
  if (with_attrs) {
    to_stat(entry.attr, out);
  } else {
    std::memset(&out, 0, sizeof out);
    out.st_ino = entry.ino;
    out.st_mode = DTTOIF(entry.type);
  }
}

void to_statvfs(const StatFs& fs, struct statvfs& out) {
  std::memset(&out, 0, sizeof out);
  out.f_bsize = fs.block_size;
  out.f_frsize = fs.fragment_size ? fs.fragment_size : fs.block_size;
  out.f_blocks = fs.blocks;
  out.f_bfree = fs.blocks_free;
  out.f_bavail = fs.blocks_available;
  out.f_files = fs.files;
  out.f_ffree = fs.files_free;
  out.f_favail = fs.files_free;
  out.f_namemax = fs.name_max;
}

OpenFlags to_open_flags(int flags) {
  const int access = flags & O_ACCMODE;
  return OpenFlags{.read = access == O_RDONLY || access == O_RDWR,
                   .write = access == O_WRONLY || access == O_RDWR,
                   .append = (flags & O_APPEND) != 0,
                   .truncate = (flags & O_TRUNC) != 0,
                   .create = (flags & O_CREAT) != 0,
                   .exclusive = (flags & O_EXCL) != 0,
                   .directory = (flags & O_DIRECTORY) != 0,
                   .no_follow = (flags & O_NOFOLLOW) != 0};
}

TimeSet to_time_set(const struct timespec& time) {
  TimeSet set;
  if (time.tv_nsec == UTIME_OMIT) {
    set.kind = TimeSet::Kind::omit;
  } else if (time.tv_nsec == UTIME_NOW) {
    set.kind = TimeSet::Kind::now;
  } else {
    set.kind = TimeSet::Kind::at;
    set.at = {.sec = time.tv_sec, .nsec = static_cast<uint32_t>(time.tv_nsec)};
  }
  return set;
}

Result<RenameFlags> to_rename_flags(unsigned flags) {
  const RenameFlags out{.no_replace = (flags & RENAME_NOREPLACE) != 0,
                        .exchange = (flags & RENAME_EXCHANGE) != 0};
  if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) != 0 || (out.no_replace && out.exchange))
    return make_error(EINVAL, "unsupported rename flags");
  return out;
}

Result<XattrSetFlags> to_xattr_flags(int flags) {
  const XattrSetFlags out{.create_only = (flags & XATTR_CREATE) != 0,
                          .replace_only = (flags & XATTR_REPLACE) != 0};
  if ((flags & ~(XATTR_CREATE | XATTR_REPLACE)) != 0 || (out.create_only && out.replace_only))
    return make_error(EINVAL, "unsupported setxattr flags");
  return out;
}

int negative_errno(const Error& error) {
  // Kernel errnos are 1..4095; anything else from a scheme is a bug, reported as EIO.
  return error.code > 0 && error.code < 4096 ? -error.code : -EIO;
}

}  // namespace bridge::host::fuse_impl
