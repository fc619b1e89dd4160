// Translation of libext2fs error codes (com_err errcode_t) into errno values with context.
#pragma once

#include <ext2fs/ext2fs.h>

#include <string>
#include <string_view>

#include "common/result.h"

namespace bridge::guest::ext2 {

// The errno a caller should see for a libext2fs error. Codes below 256 are plain errno values
// passed up from the I/O layer; unknown libext2fs codes become EIO.
int errno_from_errcode(errcode_t err);

// The com_err message ("Ext2 directory corrupted"), or strerror for plain errno values.
std::string errcode_message(errcode_t err);

// An Error whose context says what failed, on which path, and libext2fs's own words:
// "unlink /a/b: ext2fs_unlink: Ext2 directory corrupted".
Error ext2_error(errcode_t err, std::string_view what, std::string_view path = {});

// An Error for an errno we decided ourselves: "rmdir /a: directory not empty".
Error errno_error(int code, std::string_view what, std::string_view path = {});

}  // namespace bridge::guest::ext2
