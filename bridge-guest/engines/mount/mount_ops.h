// The mount engine's operations as free functions over a ConfinedRoot, one group per file:
//   confined_root.cpp  openat2 lookups (the confinement), parents of final names
//   mount_attr.cpp     getattr, setattr, readlink, statfs, sync
//   mount_create.cpp   mkdir, symlink, link
//   mount_remove.cpp   unlink, rmdir, rename
//   mount_readdir.cpp  readdir pages and cookies
//   mount_xattr.cpp    extended attributes
//   mount_open.cpp     open; mount_file.cpp the OpenFile over an fd
// Read-only exports are refused (EROFS) by the engine before these run, except open, which
// needs to look at the flags and the object first.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bridge-guest/engines/fs_engine.h"
#include "bridge-guest/engines/mount/confined_root.h"
#include "common/fs_types.h"
#include "common/name_component.h"
#include "common/result.h"

namespace bridge::guest::mnt {

// ---- helpers shared by the groups ----
// Opens path again (never following its final name) and checks that it is still the object
// `expected` describes: a second open is how an O_PATH-resolved entry gets an fd that fchmod,
// ftruncate and f*xattr accept without going through /proc. EAGAIN when the name changed.
Result<UniqueFd> reopen_same(const ConfinedRoot& root, const RelPath& path, int flags,
                             const struct stat& expected, std::string_view what);

// ---- attributes ----
Result<Attr> op_getattr(const ConfinedRoot& root, const RelPath& path, bool follow);
Result<Attr> op_setattr(const ConfinedRoot& root, const RelPath& path, const SetAttr& changes);
Result<std::string> op_readlink(const ConfinedRoot& root, const RelPath& path);
Result<StatFs> op_statfs(const ConfinedRoot& root);
Status op_sync(const ConfinedRoot& root);

// ---- creation ----
Result<Attr> op_mkdir(const ConfinedRoot& root, const RelPath& path, uint32_t mode,
                      const Creds& creds);
Result<Attr> op_symlink(const ConfinedRoot& root, const RelPath& path, std::string_view target,
                        const Creds& creds);
Result<Attr> op_link(const ConfinedRoot& root, const RelPath& existing, const RelPath& new_path);

// ---- removal and renaming ----
Status op_unlink(const ConfinedRoot& root, const RelPath& path);
Status op_rmdir(const ConfinedRoot& root, const RelPath& path);
Status op_rename(const ConfinedRoot& root, const RelPath& from, const RelPath& to,
                 RenameFlags flags);

// ---- readdir ----
Result<DirPage> op_readdir(const ConfinedRoot& root, const RelPath& dir, uint64_t cookie,
                           uint32_t max_entries, bool with_attrs);

// ---- xattrs ----
Result<std::vector<uint8_t>> op_getxattr(const ConfinedRoot& root, const RelPath& path,
                                         std::string_view name);
Status op_setxattr(const ConfinedRoot& root, const RelPath& path, std::string_view name,
                   std::span<const uint8_t> value, XattrSetFlags flags);
Result<std::vector<std::string>> op_listxattr(const ConfinedRoot& root, const RelPath& path);
Status op_removexattr(const ConfinedRoot& root, const RelPath& path, std::string_view name);

// ---- open ----
Result<std::unique_ptr<OpenFile>> op_open(const ConfinedRoot& root, const RelPath& path,
                                          const OpenFlags& flags, uint32_t create_mode,
                                          const Creds& creds, bool read_only);

}  // namespace bridge::guest::mnt
