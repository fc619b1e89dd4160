// An owned libext2fs xattr handle, already loaded with the inode's xattrs.
#pragma once

#include <ext2fs/ext2fs.h>

#include <memory>
#include <string_view>

#include "bridge-guest/engines/ext2fs/ext2fs_fs.h"
#include "common/result.h"

namespace bridge::guest::ext2 {

struct XattrCloser {
  void operator()(ext2_xattr_handle* h) const { ext2fs_xattrs_close(&h); }
};
using XattrHandle = std::unique_ptr<ext2_xattr_handle, XattrCloser>;

// ext2fs_xattrs_open + ext2fs_xattrs_read. Changes through the handle are written at once
// (ext2fs_xattr_set/remove rewrite the inode's xattr area or block).
Result<XattrHandle> open_xattrs(Ext2Fs& fs, Ino ino, std::string_view path);

}  // namespace bridge::guest::ext2
