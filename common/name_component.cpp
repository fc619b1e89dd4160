#include "common/name_component.h"

namespace bridge {

Result<NameComponent> NameComponent::parse(std::string_view raw) {
  if (raw.empty() || raw == "." || raw == "..")
    return make_error(EINVAL, "path component '" + std::string(raw) + "' is not a name");
  if (raw.size() > kNameMax)
    return make_error(ENAMETOOLONG, "path component longer than 255 bytes");
  for (char c : raw) {
    if (c == '/' || c == '\0') return make_error(EINVAL, "path component contains '/' or NUL");
  }
  return NameComponent(std::string(raw));
}

Result<RelPath> RelPath::parse(std::string_view text) {
  std::vector<std::string_view> parts;
  while (!text.empty()) {
    auto slash = text.find('/');
    auto part = text.substr(0, slash);
    if (!part.empty() && part != ".") parts.push_back(part);
    if (slash == std::string_view::npos) break;
    text.remove_prefix(slash + 1);
  }
  return from_components(parts);
}

Result<RelPath> RelPath::from_components(const std::vector<std::string_view>& parts) {
  if (parts.size() > kPathComponentsMax)
    return make_error(ENAMETOOLONG, "path has too many components");
  RelPath path;
  path.parts_.reserve(parts.size());
  for (auto raw : parts) {
    auto name = NameComponent::parse(raw);
    if (!name) return name.error();
    path.parts_.push_back(std::move(name).value());
  }
  return path;
}

RelPath RelPath::parent() const {
  RelPath p = *this;
  if (!p.parts_.empty()) p.parts_.pop_back();
  return p;
}

RelPath RelPath::child(NameComponent name) const {
  RelPath p = *this;
  p.parts_.push_back(std::move(name));
  return p;
}

std::string RelPath::str() const {
  if (parts_.empty()) return "/";
  std::string out;
  for (const auto& p : parts_) {
    out += '/';
    out += p.str();
  }
  return out;
}

}  // namespace bridge
