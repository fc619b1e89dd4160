// Extended attributes through libext2fs's xattr handle API. Names keep their namespace prefix;
// POSIX ACLs are converted between the Linux xattr format and ext4's on-disk format by
// libext2fs. "system.data" (where inline data lives) is never exposed.

#include <array>
#include <memory>
#include <string>

#include "bridge-guest/engines/ext2fs/ext2fs_error.h"
#include "bridge-guest/engines/ext2fs/ext2fs_ops.h"
#include "bridge-guest/engines/ext2fs/ext2fs_xattr_handle.h"

namespace bridge::guest::ext2 {

namespace {

constexpr std::size_t kXattrNameMax = 255;    // XATTR_NAME_MAX
constexpr std::size_t kXattrSizeMax = 65536;  // XATTR_SIZE_MAX

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() > prefix.size() && s.substr(0, prefix.size()) == prefix;
}

// The namespaces Linux's ext4 accepts (system.* only for the two ACLs).
Status check_name(std::string_view name, std::string_view path) {
  if (name.empty() || name.size() > kXattrNameMax) return errno_error(ERANGE, "xattr name", path);
  if (name.find('\0') != std::string_view::npos) return errno_error(EINVAL, "xattr name", path);
  if (name == "system.posix_acl_access" || name == "system.posix_acl_default") return {};
  for (std::string_view prefix : {"user.", "trusted.", "security."}) {
    if (starts_with(name, prefix)) return {};
  }
  return errno_error(EOPNOTSUPP, "xattr namespace of '" + std::string(name) + "'", path);
}

struct FoundValue {
  bool present = false;
  std::vector<uint8_t> value;
};

Result<FoundValue> get_value(ext2_xattr_handle* h, const std::string& name, std::string_view path) {
  void* value = nullptr;
  size_t len = 0;
  errcode_t err = ext2fs_xattr_get(h, name.c_str(), &value, &len);
  if (err == EXT2_ET_EA_KEY_NOT_FOUND) return FoundValue{};
  if (err) return ext2_error(err, "getxattr: ext2fs_xattr_get", path);
  FoundValue found{true, {}};
  // INVARIANT: on success ext2fs_xattr_get hands back a malloc'd buffer of exactly len bytes.
  auto* bytes = static_cast<const uint8_t*>(value);
  found.value.assign(bytes, bytes + len);
  ext2fs_free_mem(&value);
  return found;
}

// After an xattr change: ctime moves, and an open file's cached inode learns the new i_file_acl.
Status touch_ctime(Ext2Fs& fs, Ino ino, std::string_view path) {
  auto inode = fs.read_inode(ino, "xattr: read inode", path);
  if (!inode) return inode.error();
  set_time(*inode, TimeField::ctime, now());
  return fs.write_inode(ino, *inode, "xattr: write inode", path);
}

// With ea_inode, a value may live in an inode of its own whose blocks the kernel (and e2fsck)
// count in the owner's i_blocks; libext2fs 1.47.0 neither adds nor removes them, so any change
// could leave the owner's count wrong. Reading such values and unlinking their owners is fine.
Status check_xattr_writes(Ext2Fs& fs, std::string_view what, std::string_view path) {
  if (!ext2fs_has_feature_ea_inode(fs.fs()->super)) return {};
  return make_error(EOPNOTSUPP, std::string(what) + " " + std::string(path) +
                                    ": xattr changes on a filesystem with the ea_inode feature are "
                                    "not supported by this libext2fs (its block counts would go "
                                    "wrong); use the mount engine");
}

// Linux allows user.* only on regular files and directories.
Status check_user_target(Ext2Fs& fs, Ino ino, std::string_view name, std::string_view path) {
  if (!starts_with(name, "user.")) return {};
  auto inode = fs.read_inode(ino, "setxattr", path);
  if (!inode) return inode.error();
  if (!inode->is_reg() && !inode->is_dir()) return errno_error(EPERM, "setxattr (user.*)", path);
  return {};
}

}  // namespace

Result<XattrHandle> open_xattrs(Ext2Fs& fs, Ino ino, std::string_view path) {
  ext2_xattr_handle* raw = nullptr;
  errcode_t err = ext2fs_xattrs_open(fs.fs(), ino, &raw);
  if (err) return ext2_error(err, "xattr: ext2fs_xattrs_open", path);
  XattrHandle h(raw);
  err = ext2fs_xattrs_read(h.get());
  if (err) return ext2_error(err, "xattr: ext2fs_xattrs_read", path);
  return h;
}

Result<std::vector<uint8_t>> op_getxattr(Ext2Fs& fs, const RelPath& path, std::string_view name) {
  const std::string text = path.str();
  if (auto st = check_name(name, text); !st) return st.error();
  auto found = walk_existing(fs, path, false);
  if (!found) return found.error();
  auto h = open_xattrs(fs, found->ino, text);
  if (!h) return h.error();
  auto value = get_value(h->get(), std::string(name), text);
  if (!value) return value.error();
  if (!value->present) return errno_error(ENODATA, "getxattr " + std::string(name), text);
  return std::move(value->value);
}

Status op_setxattr(Ext2Fs& fs, const RelPath& path, std::string_view name,
                   std::span<const uint8_t> value, XattrSetFlags flags) {
  const std::string text = path.str();
  const std::string key(name);
  if (auto st = check_name(name, text); !st) return st;
  if (value.size() > kXattrSizeMax) return errno_error(E2BIG, "setxattr", text);
  if (flags.create_only && flags.replace_only) return errno_error(EINVAL, "setxattr", text);
  auto found = walk_existing(fs, path, false);
  if (!found) return found.error();
  if (auto st = check_user_target(fs, found->ino, name, text); !st) return st;
  if (auto st = check_xattr_writes(fs, "setxattr", text); !st) return st;
  if (auto st = fs.begin_mutation("setxattr", text); !st) return st;
  auto h = open_xattrs(fs, found->ino, text);
  if (!h) return h.error();
  if (flags.create_only || flags.replace_only) {
    auto existing = get_value(h->get(), key, text);
    if (!existing) return existing.error();
    if (existing->present && flags.create_only) return errno_error(EEXIST, "setxattr " + key, text);
    if (!existing->present && flags.replace_only)
      return errno_error(ENODATA, "setxattr " + key, text);
  }
  errcode_t err = ext2fs_xattr_set(h->get(), key.c_str(), value.data(), value.size());
  if (err) return ext2_error(err, "setxattr: ext2fs_xattr_set", text);
  h->reset();
  return touch_ctime(fs, found->ino, text);
}

Result<std::vector<std::string>> op_listxattr(Ext2Fs& fs, const RelPath& path) {
  const std::string text = path.str();
  auto found = walk_existing(fs, path, false);
  if (!found) return found.error();
  auto h = open_xattrs(fs, found->ino, text);
  if (!h) return h.error();
  std::vector<std::string> names;
  auto collect = [](char* name, char*, size_t, void* data) -> int {
    // INVARIANT: data is &names, passed to ext2fs_xattrs_iterate just below.
    auto* out = static_cast<std::vector<std::string>*>(data);
    if (std::string_view(name) != "system.data") out->emplace_back(name);
    return 0;
  };
  errcode_t err = ext2fs_xattrs_iterate(h->get(), collect, &names);
  if (err) return ext2_error(err, "listxattr: ext2fs_xattrs_iterate", text);
  return names;
}

Status op_removexattr(Ext2Fs& fs, const RelPath& path, std::string_view name) {
  const std::string text = path.str();
  const std::string key(name);
  if (auto st = check_name(name, text); !st) return st;
  auto found = walk_existing(fs, path, false);
  if (!found) return found.error();
  if (auto st = check_xattr_writes(fs, "removexattr", text); !st) return st;
  if (auto st = fs.begin_mutation("removexattr", text); !st) return st;
  auto h = open_xattrs(fs, found->ino, text);
  if (!h) return h.error();
  auto existing = get_value(h->get(), key, text);
  if (!existing) return existing.error();
  if (!existing->present) return errno_error(ENODATA, "removexattr " + key, text);
  errcode_t err = ext2fs_xattr_remove(h->get(), key.c_str());
  if (err) return ext2_error(err, "removexattr: ext2fs_xattr_remove", text);
  h->reset();
  return touch_ctime(fs, found->ino, text);
}

}  // namespace bridge::guest::ext2
