// Extended attributes through f*xattr on an fd of the entry itself. Getting that fd without
// /proc means opening the entry, which is only harmless for regular files and directories
// (opening a device node opens the device; sockets cannot be opened; a symlink cannot be
// opened without following it), so symlinks and special files answer EOPNOTSUPP here, which
// tools such as ls and cp treat as "no extended attributes".
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string>

#include "bridge-guest/engines/mount/attr_conv.h"
#include "bridge-guest/engines/mount/mount_ops.h"
#include "bridge-guest/engines/mount/sys_error.h"

namespace bridge::guest::mnt {

namespace {

constexpr std::size_t kXattrNameMax = 255;        // XATTR_NAME_MAX
constexpr std::size_t kXattrSizeMax = 64 * 1024;  // XATTR_SIZE_MAX
// A value or list that keeps changing size between the two calls is retried this often.
constexpr int kSizeRetries = 8;

Result<std::string> check_name(std::string_view name, std::string_view path) {
  if (name.empty() || name.size() > kXattrNameMax)
    return sys_error(ERANGE, "xattr name length", path);
  if (name.find('\0') != std::string_view::npos) return sys_error(EINVAL, "xattr name", path);
  return std::string(name);
}

Result<UniqueFd> open_entry(const ConfinedRoot& root, const RelPath& path, std::string_view what) {
  auto entry = root.open(path, O_PATH | O_NOFOLLOW, what);
  if (!entry) return entry.error();
  auto st = raw_stat(entry->get(), what, path.str());
  if (!st) return st.error();
  if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
    return sys_error(EOPNOTSUPP, std::string(what) + " (symlink or special file)", path.str());
  return reopen_same(root, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, *st, what);
}

// Calls get(buf, size) twice, first to learn the size; retries when it grew in between.
template <typename Get>
Result<std::vector<uint8_t>> read_sized(Get get, std::string_view what, std::string_view path) {
  for (int attempt = 0; attempt < kSizeRetries; ++attempt) {
    ssize_t size = get(nullptr, 0);
    if (size < 0) return last_error(what, path);
    std::vector<uint8_t> buf(static_cast<std::size_t>(size));
    ssize_t n = get(buf.data(), buf.size());
    if (n >= 0) {
      buf.resize(static_cast<std::size_t>(n));
      return buf;
    }
    if (errno != ERANGE) return last_error(what, path);
  }
  return sys_error(ERANGE, std::string(what) + " (keeps changing size)", path);
}

}  // namespace

Result<std::vector<uint8_t>> op_getxattr(const ConfinedRoot& root, const RelPath& path,
                                         std::string_view name) {
  const std::string text = path.str();
  auto key = check_name(name, text);
  if (!key) return key.error();
  auto fd = open_entry(root, path, "getxattr");
  if (!fd) return fd.error();
  auto get = [&](uint8_t* buf, std::size_t size) {
    return ::fgetxattr(fd->get(), key->c_str(), buf, size);
  };
  return read_sized(get, "getxattr " + *key, text);
}

Status op_setxattr(const ConfinedRoot& root, const RelPath& path, std::string_view name,
                   std::span<const uint8_t> value, XattrSetFlags flags) {
  const std::string text = path.str();
  if (flags.create_only && flags.replace_only) return sys_error(EINVAL, "setxattr", text);
  if (value.size() > kXattrSizeMax) return sys_error(E2BIG, "setxattr (value size)", text);
  auto key = check_name(name, text);
  if (!key) return key.error();
  auto fd = open_entry(root, path, "setxattr");
  if (!fd) return fd.error();
  int how = flags.create_only ? XATTR_CREATE : flags.replace_only ? XATTR_REPLACE : 0;
  if (::fsetxattr(fd->get(), key->c_str(), value.data(), value.size(), how) != 0)
    return last_error("setxattr " + *key, text);
  return {};
}

Result<std::vector<std::string>> op_listxattr(const ConfinedRoot& root, const RelPath& path) {
  const std::string text = path.str();
  auto fd = open_entry(root, path, "listxattr");
  if (!fd) return fd.error();
  auto get = [&](uint8_t* buf, std::size_t size) {
    // INVARIANT: flistxattr writes at most size bytes of NUL-separated names into buf; uint8_t
    // and char have the same size and alignment.
    return ::flistxattr(fd->get(), reinterpret_cast<char*>(buf), size);
  };
  auto raw = read_sized(get, "listxattr", text);
  if (!raw) return raw.error();
  std::vector<std::string> names;
  std::string current;
  for (uint8_t c : *raw) {
    if (c != 0) {
      current += static_cast<char>(c);
    } else if (!current.empty()) {
      names.push_back(std::move(current));
      current.clear();
    }
  }
  return names;
}

Status op_removexattr(const ConfinedRoot& root, const RelPath& path, std::string_view name) {
  const std::string text = path.str();
  auto key = check_name(name, text);
  if (!key) return key.error();
  auto fd = open_entry(root, path, "removexattr");
  if (!fd) return fd.error();
  if (::fremovexattr(fd->get(), key->c_str()) != 0) return last_error("removexattr " + *key, text);
  return {};
}

}  // namespace bridge::guest::mnt
