#include "bridge-guest/engines/btrfs/btrfs_error.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace bridge::guest::btrfs {

namespace {

int errno_for(btrfs_util_error err, int saved_errno) {
  switch (err) {
    case BTRFS_UTIL_ERROR_NO_MEMORY:
      return ENOMEM;
    // The kernel's own answer for "this directory is not a subvolume".
    case BTRFS_UTIL_ERROR_NOT_SUBVOLUME:
      return EINVAL;
    case BTRFS_UTIL_ERROR_NOT_BTRFS:
      return EOPNOTSUPP;
    case BTRFS_UTIL_ERROR_SUBVOLUME_NOT_FOUND:
      return ENOENT;
    case BTRFS_UTIL_ERROR_INVALID_ARGUMENT:
      return saved_errno ? saved_errno : EINVAL;
    default:
      return saved_errno ? saved_errno : EIO;
  }
}

}  // namespace

Error btrfs_error(btrfs_util_error err, int saved_errno, std::string_view what,
                  std::string_view path) {
  int code = errno_for(err, saved_errno);
  std::string context(what);
  if (!path.empty()) {
    context += ' ';
    context += path;
  }
  context += ": ";
  context += btrfs_util_strerror(err);
  context += ": ";
  context += std::strerror(code);
  return make_error(code, std::move(context));
}

}  // namespace bridge::guest::btrfs
