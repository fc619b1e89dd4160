#include "bridge-guest/engines/engine_factory.h"

#include "bridge-guest/engines/btrfs/btrfs_engine.h"
#include "bridge-guest/engines/drm/card_device.h"
#include "bridge-guest/engines/ext2fs/ext2fs_engine.h"
#include "bridge-guest/engines/mount/mount_engine.h"

namespace bridge::guest {

Result<std::unique_ptr<FsEngine>> open_engine(const ExportSpec& spec) {
  if (spec.engine == "ext2fs") return open_ext2fs_engine(spec.source, spec.read_only);
  if (spec.engine == "mount") return open_mount_engine(spec.source, spec.read_only);
  if (spec.engine == "btrfs") return open_btrfs_engine(spec.source, spec.read_only);
  if (spec.engine == "drm")
    return make_error(EINVAL, "export '" + spec.name + "': drm is a display engine (open_display)");
  return make_error(ENOTSUP, "export '" + spec.name + "': unknown engine '" + spec.engine + "'");
}

Result<OpenedDisplay> open_display(const ExportSpec& spec) {
  OpenedDisplay out{spec, nullptr};
  if (spec.read_only)
    return make_error(EINVAL, "export '" + spec.name + "': a display cannot be read-only (,ro)");
  if (spec.source == "auto") {
    auto found = CardDevice::find_auto();
    if (!found) return found.error();
    out.spec.source = *found;
  }
  auto card = CardDevice::open(out.spec.source);
  if (!card) return card.error();
  if (out.spec.name == "display") out.spec.name = display_scheme_name((*card)->caps().driver);
  out.device = std::move(card).value();
  return out;
}

}  // namespace bridge::guest
