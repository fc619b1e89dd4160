// The mount engine as a class, for engines that extend it (btrfs adds subvolumes). Users of the
// plain engine call open_mount_engine() in mount_engine.h.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "bridge-guest/engines/fs_engine.h"
#include "bridge-guest/engines/mount/confined_root.h"
#include "bridge-guest/engines/mount/private_mount.h"
#include "common/result.h"

namespace bridge::guest::mnt {

// What an export stands on: the private mount when the engine made one (null for a directory
// source), and the confined root. The root is declared last so it is closed first: the mount
// cannot be unmounted while an fd below it is open.
struct MountedExport {
  std::unique_ptr<PrivateMount> mount;
  ConfinedRoot root;
};

// Mounts source when it is a block device or image file, then attaches the root.
Result<MountedExport> prepare_export(const std::string& source, bool read_only);

class MountEngine : public FsEngine {
 public:
  MountEngine(MountedExport exported, bool read_only)
      : export_(std::move(exported)), read_only_(read_only) {}
  ~MountEngine() override;

  std::string_view engine_name() const override { return "mount"; }
  bool parallel() const override { return true; }
  bool read_only() const override { return read_only_; }

  Result<Attr> getattr(const RelPath& path, bool follow) override;
  Result<Attr> setattr(const RelPath& path, const SetAttr& changes) override;
  Result<std::unique_ptr<OpenFile>> open(const RelPath& path, const OpenFlags& flags,
                                         uint32_t create_mode, const Creds& creds) override;
  Result<DirPage> readdir(const RelPath& dir, uint64_t cookie, uint32_t max_entries,
                          bool with_attrs) override;
  Result<Attr> mkdir(const RelPath& path, uint32_t mode, const Creds& creds) override;
  Status unlink(const RelPath& path) override;
  Status rmdir(const RelPath& path) override;
  Status rename(const RelPath& from, const RelPath& to, RenameFlags flags) override;
  Result<Attr> symlink(const RelPath& path, std::string_view target, const Creds& creds) override;
  Result<std::string> readlink(const RelPath& path) override;
  Result<Attr> link(const RelPath& existing, const RelPath& new_path) override;
  Result<StatFs> statfs() override;
  Result<std::vector<uint8_t>> getxattr(const RelPath& path, std::string_view name) override;
  Status setxattr(const RelPath& path, std::string_view name, std::span<const uint8_t> value,
                  XattrSetFlags flags) override;
  Result<std::vector<std::string>> listxattr(const RelPath& path) override;
  Status removexattr(const RelPath& path, std::string_view name) override;
  Status sync() override;

 protected:
  const ConfinedRoot& root() const { return export_.root; }
  // A read-only export answers EROFS before looking at anything, as a read-only mount does.
  Status writable(std::string_view what, const RelPath& path) const;

 private:
  MountedExport export_;
  bool read_only_;
};

}  // namespace bridge::guest::mnt
