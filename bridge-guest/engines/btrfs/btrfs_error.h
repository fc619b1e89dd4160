// libbtrfsutil's error codes as errno values. libbtrfsutil sets errno for the errors that come
// from a failed syscall or ioctl; those pass through. The rest get the errno that means the same.
#pragma once

#include <btrfsutil.h>

#include <string_view>

#include "common/result.h"

namespace bridge::guest::btrfs {

// err: what the libbtrfsutil call returned; saved_errno: errno right after it (0 beforehand).
// Context: "subvolume create /a: btrfs_util_create_subvolume_fd: Could not create subvolume:
// File exists".
Error btrfs_error(btrfs_util_error err, int saved_errno, std::string_view what,
                  std::string_view path);

// Runs a libbtrfsutil call with errno cleared first and turns a failure into btrfs_error.
template <typename Call>
Status call_btrfsutil(Call call, std::string_view what, std::string_view path) {
  errno = 0;
  btrfs_util_error err = call();
  if (err == BTRFS_UTIL_OK) return {};
  return btrfs_error(err, errno, what, path);
}

}  // namespace bridge::guest::btrfs
