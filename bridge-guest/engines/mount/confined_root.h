// The export root and every lookup below it. All path resolution goes through openat2(2) with
// RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, so the kernel itself keeps lookups inside the export:
// the root acts as "/" (absolute symlink targets resolve from it, ".." stops at it) and
// /proc-style magic links are refused (ELOOP). No client path and no symlink in the tree reaches
// anything outside. Without openat2 there is no confinement, so the engine does not start.
//
// Operations that must not follow their final name get the parent directory (resolved the same
// way) plus the name, and call the *at syscall on that single, validated component.
#pragma once

#include <fcntl.h>
#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/name_component.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace bridge::guest::mnt {

// openat2(dir, path, flags | O_CLOEXEC, mode) with dir as the root of the lookup. Retries the
// EAGAIN that RESOLVE_IN_ROOT returns when a rename or mount races a ".." step. Returns the fd,
// or -errno.
int confined_openat(int dir, const char* path, int flags, mode_t mode = 0);

// A path's final name and the directory that holds it.
struct ParentDir {
  UniqueFd dir;      // O_PATH unless asked otherwise
  std::string name;  // one NameComponent: no '/', not "." or ".."
};

class ConfinedRoot {
 public:
  // Opens dir as the export root and checks that the kernel confines lookups under it: openat2
  // exists (Linux 5.6+), accepts the resolve flags, and ".." at the root is the root. Fails
  // closed with a message naming dir otherwise.
  static Result<ConfinedRoot> attach(const std::string& dir);

  int fd() const { return root_.get(); }  // O_PATH | O_DIRECTORY

  // Opens path under the root. The final name is followed unless flags has O_NOFOLLOW.
  Result<UniqueFd> open(const RelPath& path, int flags, std::string_view what,
                        mode_t mode = 0) const;
  // The directory holding path's final name, opened with dir_flags (O_PATH by default; btrfs
  // ioctls need O_RDONLY). The root has no parent: it gets root_errno.
  Result<ParentDir> parent(const RelPath& path, std::string_view what, int root_errno,
                           int dir_flags = O_PATH) const;

 private:
  explicit ConfinedRoot(UniqueFd root) : root_(std::move(root)) {}
  UniqueFd root_;
};

// "a/b/c" for openat2, "." for the root.
std::string lookup_text(const RelPath& path);

// Opens parent.name itself (never a symlink's target: O_NOFOLLOW is added).
Result<UniqueFd> open_child(const ParentDir& parent, int flags, std::string_view what,
                            std::string_view path);

}  // namespace bridge::guest::mnt
