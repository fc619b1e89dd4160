// --export NAME=ENGINE:SOURCE[,ro] as a value. Parsing is pure.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace bridge::guest {

struct ExportSpec {
  std::string name;    // scheme name on the host: [a-z0-9][a-z0-9._-]*, at most 64 bytes
  std::string engine;  // ext2fs | mount | btrfs | drm
  std::string source;  // image, block device, directory or DRM card
  bool read_only = false;
};

Result<ExportSpec> parse_export_spec(std::string_view text);

}  // namespace bridge::guest
