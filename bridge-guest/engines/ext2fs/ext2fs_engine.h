// The ext2fs engine: serves an ext2/3/4 image file or block device through libext2fs, in
// userspace, with no kernel mount. Paths are confined to the filesystem's root inode.
//
// libext2fs does not journal writes, so the engine serves read-write only a filesystem that was
// cleanly unmounted and whose journal needs no recovery; otherwise it serves read-only and says
// why in note(). It marks the superblock "not clean" on the first mutation and clean again on
// sync() and on destruction, so a read-only workload never changes the image.
//
// Not thread-safe: parallel() is false and the dispatcher serializes every call, OpenFile calls
// included.
#pragma once

#include <memory>
#include <string>

#include "bridge-guest/engines/fs_engine.h"
#include "common/result.h"

namespace bridge::guest {

// Opens an ext2/3/4 image file or block device. read_only: the user asked for ",ro".
// Errors name the source and what to do ("... is not an ext2/3/4 filesystem: check the path").
Result<std::unique_ptr<FsEngine>> open_ext2fs_engine(const std::string& source, bool read_only);

}  // namespace bridge::guest
