// Helpers for the mount and btrfs engine tests: real ext4 and btrfs filesystems on loop devices
// (mkfs + mount -o loop, as root), released however a test ends, plus short ways to call an
// engine. Builds on ext2fs_test_support.h (TempDir, run, P, read_all, ...).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bridge-guest/engines/fs_engine.h"
#include "ext2fs_test_support.h"

namespace bridge::guest::testing {

enum class FsKind { ext4, btrfs };
std::string kind_name(FsKind kind);
void PrintTo(FsKind kind, std::ostream* os);  // gtest prints parameters by name
// For INSTANTIATE_TEST_SUITE_P: names the instances "ext4" and "btrfs".
std::string kind_param_name(const ::testing::TestParamInfo<FsKind>& info);

// A fresh filesystem in img: ext4 (64 MiB) or btrfs (256 MiB, the smallest mkfs.btrfs likes).
void make_fs(const std::filesystem::path& img, FsKind kind);

// The loop devices backed by img (losetup -j).
std::vector<std::string> loop_devices_of(const std::filesystem::path& img);
// Where device is mounted (findmnt -S).
std::vector<std::string> mount_targets_of(const std::string& device);
// Unmounts everything mounted from img's loop devices and detaches them: whatever a test or an
// engine under test left behind.
void release_image(const std::filesystem::path& img);

// Releases whatever is still mounted from img when a test ends, however it ends.
struct ImageGuard {
  std::filesystem::path img;
  ~ImageGuard() { release_image(img); }
};

// img mounted by the test itself with mount -o loop[,options] on dir; released on destruction.
class LoopMount {
 public:
  LoopMount(std::filesystem::path img, std::filesystem::path dir, const std::string& options = "");
  ~LoopMount();
  LoopMount(const LoopMount&) = delete;
  LoopMount& operator=(const LoopMount&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path img_, dir_;
  std::string error_;
};

// A scratch filesystem of its own: a temporary directory holding the image and the mount point.
class ScratchFs {
 public:
  explicit ScratchFs(FsKind kind, const std::string& mount_options = "");
  bool ok() const { return mount_ && mount_->ok(); }
  std::string error() const { return mount_ ? mount_->error() : "mkfs failed"; }
  const std::filesystem::path& dir() const { return dir_; }
  const std::filesystem::path& image() const { return img_; }

 private:
  TempDir tmp_;  // destroyed last: the mount goes first
  std::filesystem::path img_, dir_;
  std::unique_ptr<LoopMount> mount_;
};

// Makes every later call of syscall nr in this process fail with err (a seccomp filter): how a
// test plays an older kernel. Irreversible, so only for the child of a death test.
void fail_syscall_with(long nr, int err);

// The attributes of path through the engine (a test failure when it fails).
Attr attr_of(FsEngine& engine, const std::string& path, bool follow = false);
// Writes data at offset through an open file; true when all of it was written.
bool write_at(OpenFile& file, uint64_t offset, const std::string& data);
// Reads up to n bytes at offset through an open file ("" on failure, with a test failure).
std::string read_at(OpenFile& file, uint64_t offset, std::size_t n);
// The error context of a failed result, or "" (for messages).
template <typename R>
std::string why(const R& r) {
  return r.ok() ? std::string() : r.error().context;
}

}  // namespace bridge::guest::testing
