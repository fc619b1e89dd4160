// Subvolumes and snapshots (btrfs): one interface for both ends. A guest engine implements it on
// the filesystem (bridge-guest/engines/btrfs); a host scheme implements it over the wire
// (schemes/remote_fs_scheme). Paths are relative to the export root and confined to it; errors
// are errno values of the side that holds them. Thread-safe on the host; on the guest, called
// under the engine's serialization like every engine call.
#pragma once

#include <cstdint>
#include <vector>

#include "common/fs_types.h"
#include "common/name_component.h"
#include "common/result.h"

namespace bridge {

class SubvolumeOps {
 public:
  virtual ~SubvolumeOps() = default;
  virtual Result<std::vector<SubvolInfo>> list_subvolumes() = 0;
  virtual Status create_subvolume(const RelPath& path) = 0;
  virtual Status snapshot(const RelPath& source, const RelPath& dest, bool read_only) = 0;
  virtual Status delete_subvolume(const RelPath& path) = 0;
  virtual Result<uint64_t> default_subvolume() = 0;
  virtual Status set_default_subvolume(const RelPath& path) = 0;
  virtual Result<bool> subvolume_read_only(const RelPath& path) = 0;
  virtual Status set_subvolume_read_only(const RelPath& path, bool read_only) = 0;
};

}  // namespace bridge
