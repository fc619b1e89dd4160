// Conversions between the kernel's structures and the engine interface's value types, and the
// attribute changes every setattr path shares.
#pragma once

#include <sys/stat.h>
#include <sys/statfs.h>

#include <array>
#include <string_view>

#include "common/fs_types.h"
#include "common/result.h"

namespace bridge::guest::mnt {

Attr to_attr(const struct stat& st);
StatFs to_statfs(const struct statfs& s);

// fstat(fd) as an Attr (works on O_PATH fds too).
Result<Attr> stat_fd(int fd, std::string_view what, std::string_view path);
Result<struct stat> raw_stat(int fd, std::string_view what, std::string_view path);

// The {atime, mtime} pair for utimensat: UTIME_OMIT / UTIME_NOW / the instant. EINVAL for a
// nanosecond field of 1e9 or more.
Result<std::array<timespec, 2>> to_timespecs(const SetAttr& changes, std::string_view path);
bool changes_times(const SetAttr& changes);

// chown(fd) for any fd, O_PATH included, without following a symlink the fd may name. A value
// absent in changes is left as it is.
Status chown_fd(int fd, const SetAttr& changes, std::string_view path);
// utimensat on the object fd names (O_PATH included).
Status set_times_fd(int fd, const SetAttr& changes, std::string_view path);

}  // namespace bridge::guest::mnt
