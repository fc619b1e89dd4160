// A filesystem the engine mounts itself: a block device or an image file, mounted by util-linux
// `mount` (which detects the type and sets up a loop device for a file) on a fresh directory
// under kMountBase, with nodev and nosuid so nothing in the image can act as a device or gain
// privileges in the guest. Destroying it unmounts (the loop device goes with it) and removes the
// directory.
#pragma once

#include <memory>
#include <string>

#include "common/result.h"

namespace bridge::guest::mnt {

inline constexpr const char* kMountBase = "/run/redox-bridge/mnt";

class PrivateMount {
 public:
  // source must be a block device or a regular file. Errors name the source and what mount
  // said.
  static Result<std::unique_ptr<PrivateMount>> mount(const std::string& source, bool read_only);
  ~PrivateMount();
  PrivateMount(const PrivateMount&) = delete;
  PrivateMount& operator=(const PrivateMount&) = delete;

  const std::string& target() const { return target_; }
  const std::string& source() const { return source_; }

 private:
  PrivateMount(std::string source, std::string target)
      : source_(std::move(source)), target_(std::move(target)) {}
  std::string source_;
  std::string target_;
};

}  // namespace bridge::guest::mnt
