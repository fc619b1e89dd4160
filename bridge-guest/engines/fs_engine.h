// The filesystem engine interface: what bridge-guest needs from a filesystem implementation.
// Engines see typed, validated requests (RelPath, SetAttr, ...) and never the wire.
//
// Contract for every path operation: intermediate symlinks are followed, confined to the export
// root (an absolute target resolves from the export root, ".." at the root stays at the root);
// the final component is NOT followed unless the operation says so (getattr `follow`, open
// without `no_follow`). Errors are POSIX errno values of the guest (Linux).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/fs_types.h"
#include "common/name_component.h"
#include "common/result.h"
#include "common/subvolume_ops.h"

namespace bridge::guest {

// An open file or directory. Destroying it closes it. It must not outlive its engine, and when
// the engine is not parallel() its methods run under the same serialization as the engine's.
class OpenFile {
 public:
  virtual ~OpenFile() = default;
  // Reads up to out.size() bytes at offset; fewer only at end of file.
  virtual Result<std::size_t> read(uint64_t offset, std::span<std::byte> out) = 0;
  // Writes all of data at offset (at end of file when opened with append).
  virtual Result<std::size_t> write(uint64_t offset, std::span<const std::byte> data) = 0;
  virtual Result<Attr> getattr() = 0;
  virtual Result<Attr> setattr(const SetAttr& changes) = 0;
  virtual Status fsync(bool data_only) = 0;
};

class FsEngine {
 public:
  virtual ~FsEngine() = default;

  virtual std::string_view engine_name() const = 0;  // "ext2fs", "mount", "btrfs"
  // False when calls must be serialized (libext2fs is not thread-safe): the dispatcher then
  // runs all of this export's calls, OpenFile calls included, one at a time.
  virtual bool parallel() const = 0;
  virtual bool read_only() const = 0;
  // Why the export is in the state it is in ("journal needs recovery: serving read-only").
  virtual std::string note() const { return {}; }

  virtual Result<Attr> getattr(const RelPath& path, bool follow) = 0;
  virtual Result<Attr> setattr(const RelPath& path, const SetAttr& changes) = 0;
  virtual Result<std::unique_ptr<OpenFile>> open(const RelPath& path, const OpenFlags& flags,
                                                 uint32_t create_mode, const Creds& creds) = 0;
  // A page of at most max_entries entries starting after `cookie` (0 = start). Cookies are
  // opaque to the caller. "." and ".." are not returned.
  virtual Result<DirPage> readdir(const RelPath& dir, uint64_t cookie, uint32_t max_entries,
                                  bool with_attrs) = 0;
  virtual Result<Attr> mkdir(const RelPath& path, uint32_t mode, const Creds& creds) = 0;
  virtual Status unlink(const RelPath& path) = 0;
  virtual Status rmdir(const RelPath& path) = 0;
  virtual Status rename(const RelPath& from, const RelPath& to, RenameFlags flags) = 0;
  virtual Result<Attr> symlink(const RelPath& path, std::string_view target,
                               const Creds& creds) = 0;
  virtual Result<std::string> readlink(const RelPath& path) = 0;
  virtual Result<Attr> link(const RelPath& existing, const RelPath& new_path) = 0;
  virtual Result<StatFs> statfs() = 0;
  virtual Result<std::vector<uint8_t>> getxattr(const RelPath& path, std::string_view name) = 0;
  virtual Status setxattr(const RelPath& path, std::string_view name,
                          std::span<const uint8_t> value, XattrSetFlags flags) = 0;
  virtual Result<std::vector<std::string>> listxattr(const RelPath& path) = 0;
  virtual Status removexattr(const RelPath& path, std::string_view name) = 0;
  // Everything written so far reaches the disk (shutdown calls it too).
  virtual Status sync() = 0;

  // Subvolume operations when the filesystem has them (btrfs), else null.
  virtual SubvolumeOps* subvolumes() { return nullptr; }
};

}  // namespace bridge::guest
