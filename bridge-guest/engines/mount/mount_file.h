// The mount engine's OpenFile: owns the fd that open() got through the confined lookup, and
// does everything else on that fd, so a rename or a swapped symlink afterwards changes nothing.
// Thread-safe: pread/pwrite carry their own offsets and the fd never changes.
#pragma once

#include <string>

#include "bridge-guest/engines/fs_engine.h"
#include "common/fs_types.h"
#include "common/unique_fd.h"

namespace bridge::guest::mnt {

class MountFile final : public OpenFile {
 public:
  // is_dir: a directory (read and write are EISDIR; its entries come through readdir).
  // read_only: the export is read-only, so setattr is EROFS.
  MountFile(UniqueFd fd, OpenFlags flags, bool is_dir, bool read_only, std::string path)
      : fd_(std::move(fd)),
        flags_(flags),
        is_dir_(is_dir),
        read_only_(read_only),
        path_(std::move(path)) {}

  Result<std::size_t> read(uint64_t offset, std::span<std::byte> out) override;
  Result<std::size_t> write(uint64_t offset, std::span<const std::byte> data) override;
  Result<Attr> getattr() override;
  Result<Attr> setattr(const SetAttr& changes) override;
  Status fsync(bool data_only) override;

 private:
  Status check_range(uint64_t offset, std::size_t length, std::string_view what) const;

  UniqueFd fd_;
  OpenFlags flags_;
  bool is_dir_;
  bool read_only_;
  std::string path_;  // for error context only; never used to reach the file
};

}  // namespace bridge::guest::mnt
