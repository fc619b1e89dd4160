#include "bridge-guest/engines/engine_factory.h"

#include "bridge-guest/engines/btrfs/btrfs_engine.h"
#include "bridge-guest/engines/ext2fs/ext2fs_engine.h"
#include "bridge-guest/engines/mount/mount_engine.h"

namespace bridge::guest {

Result<std::unique_ptr<FsEngine>> open_engine(const ExportSpec& spec) {
  if (spec.engine == "ext2fs") return open_ext2fs_engine(spec.source, spec.read_only);
  if (spec.engine == "mount") return open_mount_engine(spec.source, spec.read_only);
  if (spec.engine == "btrfs") return open_btrfs_engine(spec.source, spec.read_only);
  return make_error(ENOTSUP, "export '" + spec.name + "': engine '" + spec.engine +
                                 "' is not part of this build yet (display exports arrive with "
                                 "the display work); use ext2fs, mount or btrfs");
}

}  // namespace bridge::guest
