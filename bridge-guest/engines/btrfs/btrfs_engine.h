// The btrfs engine: the mount engine (same confinement, same operations, parallel) on a btrfs
// filesystem, plus subvolumes and snapshots through libbtrfsutil (subvolumes() is never null).
// Every subvolume path is resolved with the mount engine's openat2 confinement, and the
// libbtrfsutil calls only ever see fds of directories so resolved, plus one validated name.
#pragma once

#include <memory>
#include <string>

#include "bridge-guest/engines/fs_engine.h"
#include "common/result.h"

namespace bridge::guest {

// SOURCE as for open_mount_engine (a directory, or a block device / image the engine mounts
// itself). Refuses, naming the source, anything that is not btrfs.
Result<std::unique_ptr<FsEngine>> open_btrfs_engine(const std::string& source, bool read_only);

}  // namespace bridge::guest
