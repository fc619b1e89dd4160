// SubvolumeOps on a btrfs export, through libbtrfsutil. Paths are confined like every other
// path of the mount engine: subvolume paths are opened with openat2 under the export root
// (O_RDONLY | O_DIRECTORY, since ioctls refuse O_PATH fds), new or removed subvolumes are one
// validated name in such a directory, and the final name is never followed. A path that must
// be a subvolume and is not gets EINVAL before any btrfs ioctl runs on it.
#pragma once

#include <cstdint>
#include <vector>

#include "bridge-guest/engines/fs_engine.h"
#include "bridge-guest/engines/mount/confined_root.h"

namespace bridge::guest::btrfs {

class BtrfsSubvolumes final : public SubvolumeOps {
 public:
  // root must outlive this object (the engine owns both).
  BtrfsSubvolumes(const mnt::ConfinedRoot& root, bool read_only)
      : root_(root), read_only_(read_only) {}

  Result<std::vector<SubvolInfo>> list_subvolumes() override;
  Status create_subvolume(const RelPath& path) override;
  Status snapshot(const RelPath& source, const RelPath& dest, bool read_only) override;
  Status delete_subvolume(const RelPath& path) override;
  Result<uint64_t> default_subvolume() override;
  Status set_default_subvolume(const RelPath& path) override;
  Result<bool> subvolume_read_only(const RelPath& path) override;
  Status set_subvolume_read_only(const RelPath& path, bool read_only) override;

 private:
  Status writable(std::string_view what, const RelPath& path) const;
  // The subvolume at path (not following its final name), as an fd ioctls accept.
  Result<UniqueFd> open_subvolume(const RelPath& path, std::string_view what) const;

  const mnt::ConfinedRoot& root_;
  bool read_only_;
};

// Every subvolume below the export root, with paths relative to that root (which need not be a
// subvolume itself). dir: the export root opened O_RDONLY.
Result<std::vector<SubvolInfo>> list_below(int dir);

}  // namespace bridge::guest::btrfs
