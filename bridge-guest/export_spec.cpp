#include "bridge-guest/export_spec.h"

#include <array>

#include "common/scheme_name.h"

namespace bridge::guest {
namespace {

constexpr std::array<std::string_view, 4> kEngines = {"ext2fs", "mount", "btrfs", "drm"};

Error bad(std::string_view text, std::string why) {
  return make_error(EINVAL, "--export '" + std::string(text) + "': " + std::move(why) +
                                " (expected NAME=ENGINE:SOURCE[,ro], ENGINE one of ext2fs, "
                                "mount, btrfs, drm)");
}

}  // namespace

Result<ExportSpec> parse_export_spec(std::string_view text) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos) return bad(text, "no '='");
  auto colon = text.find(':', eq);
  if (colon == std::string_view::npos) return bad(text, "no ':' between engine and source");
  ExportSpec spec;
  spec.name = std::string(text.substr(0, eq));
  spec.engine = std::string(text.substr(eq + 1, colon - eq - 1));
  std::string_view source = text.substr(colon + 1);
  if (source.ends_with(",ro")) {
    spec.read_only = true;
    source.remove_suffix(3);
  }
  spec.source = std::string(source);
  if (!valid_scheme_name(spec.name))
    return bad(text, "scheme name '" + spec.name +
                         "' must be lower-case letters, digits, '.', "
                         "'_' or '-', starting with a letter or digit");
  bool known = false;
  for (auto e : kEngines) known = known || e == spec.engine;
  if (!known) return bad(text, "unknown engine '" + spec.engine + "'");
  if (spec.source.empty()) return bad(text, "empty source");
  return spec;
}

}  // namespace bridge::guest
