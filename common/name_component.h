// Paths are a type. A NameComponent is one validated path element: not empty, not "." or "..",
// no '/' or NUL, at most kNameMax bytes. A RelPath is a sequence of them, relative to an export
// root, so it cannot name anything above that root lexically. Raw strings from the wire or the
// command line become these at the edge and nowhere else.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace bridge {

inline constexpr std::size_t kNameMax = 255;
inline constexpr std::size_t kPathComponentsMax = 256;

class NameComponent {
 public:
  // EINVAL for "", ".", "..", '/' or NUL; ENAMETOOLONG above kNameMax.
  static Result<NameComponent> parse(std::string_view raw);

  const std::string& str() const { return name_; }
  bool operator==(const NameComponent&) const = default;

 private:
  explicit NameComponent(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

class RelPath {
 public:
  RelPath() = default;  // the export root

  // Parses "a/b/c" or "/a/b/c". Empty components and "." are skipped (as a kernel does);
  // ".." is refused with EINVAL because the host never needs it and it is how escapes begin.
  static Result<RelPath> parse(std::string_view text);
  static Result<RelPath> from_components(const std::vector<std::string_view>& parts);

  const std::vector<NameComponent>& components() const { return parts_; }
  bool is_root() const { return parts_.empty(); }
  std::size_t size() const { return parts_.size(); }
  const NameComponent& leaf() const { return parts_.back(); }
  RelPath parent() const;
  RelPath child(NameComponent name) const;
  std::string str() const;  // "/a/b/c", "/" for the root

  bool operator==(const RelPath&) const = default;

 private:
  std::vector<NameComponent> parts_;
};

}  // namespace bridge
