// Value conversions between the kernel's FUSE/POSIX shapes and the scheme's value types.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <ctime>

#include "common/fs_types.h"
#include "common/result.h"

namespace bridge::host::fuse_impl {

void to_stat(const Attr& attr, struct stat& out);
// A directory entry: full attributes when the scheme sent them, else the type alone.
void to_stat(const DirEntry& entry, bool with_attrs, struct stat& out);
void to_statvfs(const StatFs& fs, struct statvfs& out);
// O_* flags of open(2)/creat(2) as the kernel passes them in fuse_file_info::flags.
OpenFlags to_open_flags(int flags);
// One utimensat(2) time, UTIME_NOW and UTIME_OMIT included.
TimeSet to_time_set(const struct timespec& time);
// renameat2(2) flags; EINVAL for RENAME_WHITEOUT, unknown bits, or both known ones.
Result<RenameFlags> to_rename_flags(unsigned flags);
// setxattr(2) flags; EINVAL for unknown bits or XATTR_CREATE|XATTR_REPLACE.
Result<XattrSetFlags> to_xattr_flags(int flags);
// The value a FUSE operation returns for an error: -errno, EIO for nonsense codes.
int negative_errno(const Error& error);

}  // namespace bridge::host::fuse_impl
