// Errors from libdrm calls: most xf86drmMode functions return -errno, a few (drmIoctl-based)
// return -1 with errno set. Both become an Error with context.
#pragma once

#include <cerrno>
#include <string>

#include "common/result.h"

namespace bridge::guest {

inline Error drm_error(int ret, std::string context) {
  return make_error(ret == -1 ? errno : -ret, std::move(context));
}

inline Error errno_error(std::string context) {
  return make_error(errno ? errno : EIO, std::move(context));
}

}  // namespace bridge::guest
