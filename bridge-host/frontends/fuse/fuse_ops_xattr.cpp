// Extended attributes. getxattr/listxattr follow the syscall contract: a size-0 call asks for
// the size needed, a buffer too small is ERANGE. The mount root has none and takes none.
#include <climits>
#include <cstring>
#include <span>
#include <string>

#include "bridge-host/frontends/fuse/fuse_operations.h"
#include "bridge-host/frontends/fuse/fuse_state.h"

namespace bridge::host::fuse_impl::ops {
namespace {

// The kernel asks for this before every write(2) to a FUSE file (FUSE clears SB_NOSEC, and
// libfuse 3.14 cannot negotiate HANDLE_KILLPRIV_V2, which would let it cache the answer).
// The mount is nosuid, so exec ignores file capabilities on it anyway, and they would come
// from an untrusted guest: answer "none" here rather than pay a guest round trip per write.
constexpr const char* kCapabilityXattr = "security.capability";

int copy_out(std::span<const char> value, char* buf, size_t size) {
  if (value.size() > INT_MAX) return -E2BIG;
  if (size == 0) return static_cast<int>(value.size());
  if (value.size() > size) return -ERANGE;
  std::memcpy(buf, value.data(), value.size());
  return static_cast<int>(value.size());
}

}  // namespace

int setxattr(const char* path, const char* name, const char* value, size_t size, int flags) {
  return guarded("setxattr", path, [&]() -> int {
    auto xflags = to_xattr_flags(flags);
    if (!xflags) return negative_errno(xflags.error());
    auto target = resolve(path);
    if (!target) return negative_errno(target.error());
    if (target->path.is_mount_root()) return -EPERM;
    // INVARIANT: value is the kernel's `size` bytes; uint8_t may alias them.
    auto bytes = std::span(reinterpret_cast<const uint8_t*>(value), size);
    auto set = target->scheme->setxattr(target->path.rel, name, bytes, *xflags);
    return set ? 0 : negative_errno(set.error());
  });
}

int getxattr(const char* path, const char* name, char* value, size_t size) {
  return guarded("getxattr", path, [&]() -> int {
    if (std::strcmp(name, kCapabilityXattr) == 0) return -ENODATA;
    auto target = resolve(path);
    if (!target) return negative_errno(target.error());
    if (target->path.is_mount_root()) return -ENODATA;
    auto got = target->scheme->getxattr(target->path.rel, name);
    if (!got) return negative_errno(got.error());
    // INVARIANT: char may alias the bytes of the vector.
    return copy_out(std::span(reinterpret_cast<const char*>(got->data()), got->size()), value,
                    size);
  });
}

int listxattr(const char* path, char* list, size_t size) {
  return guarded("listxattr", path, [&]() -> int {
    auto target = resolve(path);
    if (!target) return negative_errno(target.error());
    if (target->path.is_mount_root()) return 0;
    auto names = target->scheme->listxattr(target->path.rel);
    if (!names) return negative_errno(names.error());
    std::string packed;  // "name\0name\0", as listxattr(2) returns them
    for (const auto& name : *names) {
      packed += name;
      packed += '\0';
    }
    return copy_out(packed, list, size);
  });
}

int removexattr(const char* path, const char* name) {
  return guarded("removexattr", path, [&]() -> int {
    auto target = resolve(path);
    if (!target) return negative_errno(target.error());
    if (target->path.is_mount_root()) return -EPERM;
    auto removed = target->scheme->removexattr(target->path.rel, name);
    return removed ? 0 : negative_errno(removed.error());
  });
}

}  // namespace bridge::host::fuse_impl::ops
