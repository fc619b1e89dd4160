// The host-side filesystem scheme: what a frontend (FUSE, Redox scheme socket, bridgectl's
// control socket) calls for /scheme/<name>/... . Implemented over a guest link by
// RemoteFsScheme. Methods are thread-safe and block the calling thread until the guest answers,
// the guest is lost (EIO) or the call times out (ETIMEDOUT). Errors are host errno values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/fs_types.h"
#include "common/name_component.h"
#include "common/result.h"

namespace bridge {

// An open file on the guest. Opaque; a value from an earlier guest session gives ESTALE/EIO.
using FileId = uint64_t;

struct OpenedFile {
  FileId id = 0;
  Attr attr;
};

class FsScheme {
 public:
  virtual ~FsScheme() = default;

  virtual bool read_only() const = 0;
  // Largest read or write one call carries; callers split larger I/O.
  virtual std::size_t max_io() const = 0;

  virtual Result<Attr> getattr(const RelPath& path, bool follow) = 0;
  virtual Result<Attr> fgetattr(FileId file) = 0;
  virtual Result<Attr> setattr(const RelPath& path, const SetAttr& changes) = 0;
  virtual Result<Attr> fsetattr(FileId file, const SetAttr& changes) = 0;
  virtual Result<OpenedFile> open(const RelPath& path, const OpenFlags& flags, uint32_t mode,
                                  const Creds& creds) = 0;
  // Reads up to out.size() (<= max_io()) bytes; fewer only at end of file.
  virtual Result<std::size_t> read(FileId file, uint64_t offset, std::span<std::byte> out) = 0;
  virtual Result<std::size_t> write(FileId file, uint64_t offset,
                                    std::span<const std::byte> data) = 0;
  virtual Status fsync(FileId file, bool data_only) = 0;
  virtual Status close(FileId file) = 0;
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
};

}  // namespace bridge
