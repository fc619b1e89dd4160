// Errors from system calls as Error values whose context names the operation, the export path
// and the kernel's words: "unlink /a/b: No such file or directory". The errno passes through
// unchanged: these are the guest's Linux errno values, which the wire carries as they are.
#pragma once

#include <string_view>

#include "common/result.h"

namespace bridge::guest::mnt {

Error sys_error(int code, std::string_view what, std::string_view path = {});

// sys_error(errno, ...): call it right after the failing syscall, before anything else can
// change errno.
Error last_error(std::string_view what, std::string_view path = {});

}  // namespace bridge::guest::mnt
