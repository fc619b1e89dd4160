// Opens the engine an export asks for. main() calls this once per --export before connecting,
// so a bad image or missing device fails the start with a clear message.
#pragma once

#include <memory>

#include "bridge-guest/engines/drm/drm_device.h"
#include "bridge-guest/engines/fs_engine.h"
#include "bridge-guest/export_spec.h"
#include "common/result.h"

namespace bridge::guest {

// Filesystem engines (ext2fs, mount, btrfs).
Result<std::unique_ptr<FsEngine>> open_engine(const ExportSpec& spec);

// A display export (engine drm): SOURCE is /dev/dri/cardN or "auto" (the first card with a
// connected connector). An export named just "display" is renamed display.<driver>
// (display_scheme_name: bochs-drm -> display.bochs, virtio_gpu -> display.virtio-gpu).
struct OpenedDisplay {
  ExportSpec spec;  // with the card's path and the final name
  std::unique_ptr<DrmDevice> device;
};
Result<OpenedDisplay> open_display(const ExportSpec& spec);

}  // namespace bridge::guest
