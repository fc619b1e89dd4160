#include "common/cli.h"

#include <cstdio>
#include <cstring>

#include <unistd.h>

namespace bridge {

std::optional<Result<std::string>> ArgReader::option(std::string_view name) {
  if (done()) return std::nullopt;
  std::string_view arg = args_[pos_];
  if (arg == name) {
    ++pos_;
    if (done())
      return Result<std::string>(make_error(EINVAL, std::string(name) + " needs a value"));
    return Result<std::string>(args_[pos_++]);
  }
  if (arg.size() > name.size() && arg.starts_with(name) && arg[name.size()] == '=') {
    ++pos_;
    return Result<std::string>(std::string(arg.substr(name.size() + 1)));
  }
  return std::nullopt;
}

bool ArgReader::flag(std::string_view name) {
  if (done() || args_[pos_] != name) return false;
  ++pos_;
  return true;
}

std::vector<std::string> ArgReader::rest() {
  std::vector<std::string> out(args_.begin() + static_cast<long>(pos_), args_.end());
  pos_ = args_.size();
  return out;
}

std::string machine_name(std::string_view fallback) {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return std::string(fallback);
  return buf;
}

int fail_usage(std::string_view program, std::string_view message) {
  std::fprintf(stderr, "%.*s: %.*s\nTry '%.*s --help'.\n", static_cast<int>(program.size()),
               program.data(), static_cast<int>(message.size()), message.data(),
               static_cast<int>(program.size()), program.data());
  return 2;
}

int fail(std::string_view program, const Error& error) {
  std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(program.size()), program.data(),
               error.context.empty() ? std::strerror(error.code) : error.context.c_str());
  return 1;
}

}  // namespace bridge
