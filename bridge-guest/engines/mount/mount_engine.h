// The mount engine: serves a directory the guest kernel has mounted, any Linux filesystem, with
// every FsEngine operation and no global lock (parallel()). Every path is confined to the export
// root by the kernel itself (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, chroot semantics);
// see confined_root.h. Symlinks and special files have no extended attributes here
// (EOPNOTSUPP), and device nodes, fifos and sockets cannot be opened (ENXIO).
#pragma once

#include <memory>
#include <string>

#include "bridge-guest/engines/fs_engine.h"
#include "common/result.h"

namespace bridge::guest {

// SOURCE is a directory (served as it is), or a block device / image file that the engine mounts
// itself on a private mount point (created under /run/redox-bridge/mnt/, removed again) and
// unmounts when destroyed. read_only: the user asked for ",ro" (mount ro, refuse writes with
// EROFS). Fails to start (never serves unconfined) on a kernel without openat2.
Result<std::unique_ptr<FsEngine>> open_mount_engine(const std::string& source, bool read_only);

}  // namespace bridge::guest
