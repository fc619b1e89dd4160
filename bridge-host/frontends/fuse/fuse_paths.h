// FUSE paths are "/<scheme>/<path inside the export>". This is the edge where they become a
// scheme name and a validated RelPath; nothing past it handles raw path strings.
#pragma once

#include <string>
#include <string_view>

#include "common/name_component.h"
#include "common/result.h"

namespace bridge::host::fuse_impl {

struct FusePath {
  std::string scheme;  // empty for the mount root "/"
  RelPath rel;         // inside the scheme's export; the export root for "/<scheme>"

  bool is_mount_root() const { return scheme.empty(); }
  // "/<scheme>" itself: the root of an export, an entry of the mount root.
  bool is_scheme_root() const { return !scheme.empty() && rel.is_root(); }
};

// EINVAL for a relative path or a bad component, ENAMETOOLONG as RelPath says.
Result<FusePath> parse_fuse_path(std::string_view path);

}  // namespace bridge::host::fuse_impl
