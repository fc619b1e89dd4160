#include "bridge-guest/engines/mount/sys_error.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace bridge::guest::mnt {

Error sys_error(int code, std::string_view what, std::string_view path) {
  std::string context(what);
  if (!path.empty()) {
    context += ' ';
    context += path;
  }
  context += ": ";
  context += std::strerror(code);
  return make_error(code, std::move(context));
}

Error last_error(std::string_view what, std::string_view path) {
  return sys_error(errno, what, path);
}

}  // namespace bridge::guest::mnt
