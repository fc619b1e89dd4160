// The rule for scheme names, applied by the guest to --export and by the host to what a guest
// announces: [a-z0-9][a-z0-9._-]*, at most 64 bytes. Such a name is safe as a directory name
// under /scheme and as a Redox scheme name.
#pragma once

#include <string_view>

namespace bridge {

inline bool valid_scheme_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_or_digit(name.front())) return false;
  for (char c : name) {
    if (!lower_or_digit(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

}  // namespace bridge
