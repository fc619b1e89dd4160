// The two real daemons in local mode, for integration tests: a temp dir with an ext4 image made
// by mke2fs -d, bridge-host with a real FUSE mount, bridge-guest serving the image over a unix
// socket. Nothing is simulated.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tests/integration/child_process.h"

namespace bridge::test {

std::string binary(const std::string& relative);  // under the build tree
std::string sha256_of(const std::string& path);

// What the guest serves: scheme name, engine, and the filesystem its image holds.
struct ExportKind {
  std::string scheme;  // "ext4", "btrfs"
  std::string engine;  // "ext2fs", "mount", "btrfs"
  std::string fstype;  // "ext4", "btrfs": how the image is made and checked
};

inline const ExportKind kExt2fsExport{"ext4", "ext2fs", "ext4"};

class LocalBridge {
 public:
  explicit LocalBridge(ExportKind kind = kExt2fsExport);
  ~LocalBridge();

  // Builds the image from `tree` (mke2fs -d or mkfs.btrfs --rootdir); size in MiB.
  void make_image(const std::filesystem::path& tree, int size_mib);
  // The filesystem's own checker, read-only (e2fsck -fn, btrfs check --readonly).
  CommandResult check_image() const;
  const ExportKind& kind() const { return kind_; }
  void start_host(std::vector<std::string> extra = {});
  void start_guest(std::vector<std::string> extra = {});
  void stop_guest() {
    if (guest_) guest_->stop();
    guest_.reset();
  }
  void kill_guest();
  void stop_host();
  void stop_all() {
    stop_guest();
    stop_host();
  }
  // Waits until `relative` exists under the mount (e.g. "ext4/home/file").
  bool wait_for(const std::string& relative,
                std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Runs bridgectl with the control socket set.
  CommandResult bridgectl(const std::string& args);

  const std::filesystem::path& dir() const { return dir_; }
  std::string mount() const { return (dir_ / "scheme").string(); }
  std::string at(const std::string& relative) const { return mount() + "/" + relative; }
  std::string image() const { return (dir_ / (kind_.fstype + ".img")).string(); }
  std::string guest_socket() const { return (dir_ / "guest.sock").string(); }
  std::string control_socket() const { return (dir_ / "control.sock").string(); }
  std::string host_log() const { return (dir_ / "host.log").string(); }
  std::string guest_log() const { return (dir_ / "guest.log").string(); }
  ChildProcess* host() { return host_.get(); }
  ChildProcess* guest() { return guest_.get(); }

 private:
  ExportKind kind_;
  std::filesystem::path dir_;
  std::unique_ptr<ChildProcess> host_;
  std::unique_ptr<ChildProcess> guest_;
};

}  // namespace bridge::test
