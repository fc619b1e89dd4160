// Subvolume operations of a scheme whose export has them (btrfs). Paths are relative to the
// scheme root. Thread-safe and blocking like FsScheme; errors are host errno values.
#pragma once

#include <vector>

#include "common/fs_types.h"
#include "common/name_component.h"
#include "common/result.h"

namespace bridge {

class SubvolumeScheme {
 public:
  virtual ~SubvolumeScheme() = default;
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
