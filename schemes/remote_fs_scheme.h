// A filesystem scheme served by a guest export: each FsScheme call becomes one wire request on
// the guest's channel, and the response is checked before it is believed (right result kind,
// sizes within what was asked, names valid). A malformed or mismatched response is EIO.
//
// File data: when the channel has a shared region, read() sets aside a range (a lease) and asks
// the guest to read into it; the answer's range must lie inside that lease and be no longer
// than asked, and only then are its bytes copied out. write() copies into a lease and names it.
// A full region (ENOSPC) falls back to inline data: the I/O never fails because of the region.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "common/subvolume_ops.h"
#include "schemes/fs_scheme.h"
#include "schemes/guest_channel.h"
#include "schemes/request_forwarder.h"

namespace bridge {

class RemoteFsScheme : public FsScheme, public SubvolumeOps, public RequestForwarder {
 public:
  RemoteFsScheme(std::shared_ptr<GuestChannel> channel, uint16_t export_index, bool read_only);

  bool read_only() const override { return read_only_; }
  std::size_t max_io() const override;

  Result<Attr> getattr(const RelPath& path, bool follow) override;
  Result<Attr> fgetattr(FileId file) override;
  Result<Attr> setattr(const RelPath& path, const SetAttr& changes) override;
  Result<Attr> fsetattr(FileId file, const SetAttr& changes) override;
  Result<OpenedFile> open(const RelPath& path, const OpenFlags& flags, uint32_t mode,
                          const Creds& creds) override;
  Result<std::size_t> read(FileId file, uint64_t offset, std::span<std::byte> out) override;
  Result<std::size_t> write(FileId file, uint64_t offset, std::span<const std::byte> data) override;
  Status fsync(FileId file, bool data_only) override;
  Status close(FileId file) override;
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

  // Subvolumes: the guest answers ENOTSUP when the export has none.
  Result<std::vector<SubvolInfo>> list_subvolumes() override;
  Status create_subvolume(const RelPath& path) override;
  Status snapshot(const RelPath& source, const RelPath& dest, bool read_only) override;
  Status delete_subvolume(const RelPath& path) override;
  Result<uint64_t> default_subvolume() override;
  Status set_default_subvolume(const RelPath& path) override;
  Result<bool> subvolume_read_only(const RelPath& path) override;
  Status set_subvolume_read_only(const RelPath& path, bool read_only) override;

  void forward(wire::Request::Reader request, RequestForwarder::Completion done) override;

 private:
  // Builds a request for this export, lets `fill` set the operation, and waits for the answer.
  template <typename Fill>
  Result<frame::Frame> call(const Creds& creds, Fill&& fill);
  Result<std::size_t> read_inline(FileId file, uint64_t offset, std::span<std::byte> out);
  Result<std::size_t> read_region(GuestRegion& region, RegionLease lease, FileId file,
                                  uint64_t offset, std::span<std::byte> out);
  Result<std::size_t> write_inline(FileId file, uint64_t offset, std::span<const std::byte> data);
  Result<std::size_t> write_region(GuestRegion& region, RegionLease lease, FileId file,
                                   uint64_t offset, std::span<const std::byte> data);
  // A lease the guest may still touch (its request timed out or the link failed) is never
  // handed out again while this scheme lives: reusing it could let a late, honest write land
  // in another request's range. Bounded by the region: when it fills, I/O goes inline.
  void quarantine(RegionLease lease);

  std::shared_ptr<GuestChannel> channel_;
  uint16_t export_index_;
  bool read_only_;
  std::atomic<bool> region_read_logged_{false};  // one log line when region reads begin
  std::mutex quarantine_mu_;                     // guards quarantined_; leaf lock
  std::vector<RegionLease> quarantined_;
};

}  // namespace bridge
