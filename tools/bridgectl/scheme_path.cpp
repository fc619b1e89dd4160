#include "tools/bridgectl/scheme_path.h"

#include "common/scheme_name.h"

namespace bridge::ctl {

Result<SchemePath> parse_scheme_path(std::string_view text) {
  std::string_view scheme, rest;
  constexpr std::string_view kRoot = "/scheme/";
  if (text.starts_with(kRoot)) {
    text.remove_prefix(kRoot.size());
    auto slash = text.find('/');
    scheme = text.substr(0, slash);
    rest = slash == std::string_view::npos ? "" : text.substr(slash);
  } else if (auto colon = text.find(':'); colon != std::string_view::npos) {
    scheme = text.substr(0, colon);
    rest = text.substr(colon + 1);
  } else {
    return make_error(EINVAL,
                      "'" + std::string(text) +
                          "' is not a scheme path: write SCHEME:/PATH or /scheme/SCHEME/PATH");
  }
  if (!valid_scheme_name(scheme))
    return make_error(EINVAL, "'" + std::string(scheme) + "' is not a scheme name");
  auto path = RelPath::parse(rest);
  if (!path) return make_error(path.code(), "'" + std::string(text) + "': " + path.error().context);
  return SchemePath{std::string(scheme), std::move(path).value()};
}

}  // namespace bridge::ctl
