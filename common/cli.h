// A small argument reader shared by the daemons and bridgectl: long options with a value in the
// next argument or after '='. Unknown options are errors that name the option.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace bridge {

class ArgReader {
 public:
  ArgReader(int argc, char** argv) : args_(argv + 1, argv + argc) {}
  // Arguments that did not come from main() (a config file, a sub-command's rest).
  explicit ArgReader(std::vector<std::string> args) : args_(std::move(args)) {}

  bool done() const { return pos_ >= args_.size(); }
  // The next argument, consumed.
  std::string_view next() { return args_[pos_++]; }
  std::string_view peek() const { return args_[pos_]; }
  // If the next argument is `name` (or `name=value`), consumes it and returns its value.
  // A missing value is an error naming the option.
  std::optional<Result<std::string>> option(std::string_view name);
  bool flag(std::string_view name);
  std::vector<std::string> rest();

 private:
  std::vector<std::string> args_;
  std::size_t pos_ = 0;
};

// This machine's host name, or `fallback` when it has none: the default name a daemon gives itself.
std::string machine_name(std::string_view fallback);

// Prints "PROGRAM: MESSAGE" to stderr and returns exit status 2 (usage) or 1 (failure).
int fail_usage(std::string_view program, std::string_view message);
int fail(std::string_view program, const Error& error);

}  // namespace bridge
