#include "bridge-host/frontends/fuse/fuse_paths.h"

namespace bridge::host::fuse_impl {

Result<FusePath> parse_fuse_path(std::string_view path) {
  if (!path.starts_with('/')) return make_error(EINVAL, "FUSE path is not absolute");
  path.remove_prefix(1);
  const auto slash = path.find('/');
  const auto first = path.substr(0, slash);
  if (first.empty()) return FusePath{};  // "/" (libfuse never sends "//")

  auto scheme = NameComponent::parse(first);
  if (!scheme) return scheme.error();
  auto rel =
      RelPath::parse(slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1));
  if (!rel) return rel.error();
  return FusePath{.scheme = scheme->str(), .rel = std::move(rel).value()};
}

}  // namespace bridge::host::fuse_impl
