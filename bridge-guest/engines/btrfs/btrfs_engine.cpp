// The btrfs engine: a MountEngine that checks its filesystem is btrfs and adds SubvolumeOps.
#include "bridge-guest/engines/btrfs/btrfs_engine.h"

#include <linux/magic.h>
#include <sys/vfs.h>

#include <cstdio>

#include "bridge-guest/engines/btrfs/btrfs_subvolumes.h"
#include "bridge-guest/engines/mount/mount_engine_base.h"
#include "bridge-guest/engines/mount/sys_error.h"

namespace bridge::guest {

namespace {

class BtrfsEngine final : public mnt::MountEngine {
 public:
  BtrfsEngine(mnt::MountedExport exported, bool read_only)
      : MountEngine(std::move(exported), read_only), subvolumes_(root(), read_only) {}

  std::string_view engine_name() const override { return "btrfs"; }
  SubvolumeOps* subvolumes() override { return &subvolumes_; }

 private:
  btrfs::BtrfsSubvolumes subvolumes_;  // borrows root(), which the base class owns
};

Status check_btrfs(const mnt::ConfinedRoot& root, const std::string& source) {
  struct statfs s {};
  if (::fstatfs(root.fd(), &s) != 0) return mnt::last_error("btrfs engine: statfs", source);
  if (static_cast<unsigned long>(s.f_type) == BTRFS_SUPER_MAGIC) return {};
  char type[32];
  std::snprintf(type, sizeof type, "0x%lx", static_cast<unsigned long>(s.f_type));
  return make_error(EINVAL, "btrfs engine: " + source + " is not btrfs (filesystem type " + type +
                                "): use the mount engine, or give a btrfs source");
}

}  // namespace

Result<std::unique_ptr<FsEngine>> open_btrfs_engine(const std::string& source, bool read_only) {
  auto exported = mnt::prepare_export(source, read_only);
  if (!exported) return exported.error();
  // A mount made for a filesystem that is not btrfs goes away with `exported`.
  if (auto st = check_btrfs(exported->root, source); !st) return st.error();
  return std::unique_ptr<FsEngine>(
      std::make_unique<BtrfsEngine>(std::move(exported).value(), read_only));
}

}  // namespace bridge::guest
