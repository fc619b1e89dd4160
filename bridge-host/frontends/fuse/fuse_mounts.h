// The mount table side of the FUSE frontend: reading /proc/self/mountinfo, preparing a
// mountpoint (stale mounts, mounts in use), and the kernel's per-connection knobs
// (/sys/fs/fuse/connections/<dev>/abort, /sys/class/bdi/<major>:<minor>/read_ahead_kb).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace bridge::host::fuse_impl {

// The device number of a mounted filesystem (st_dev of its root), as mountinfo shows it.
struct MountDevice {
  unsigned major = 0;
  unsigned minor = 0;
  bool operator==(const MountDevice&) const = default;
};

struct MountEntry {
  MountDevice device;
  std::string mount_point;  // unescaped
  std::string fstype;       // "fuse.scheme", "ext4", ...
  std::string source;       // "redox-bridge", "/dev/vda", ...
};

// One line of /proc/self/mountinfo; nullopt for a malformed line.
std::optional<MountEntry> parse_mountinfo_line(std::string_view line);
Result<std::vector<MountEntry>> read_mountinfo();
// The mount visible at `path` (the last one mounted there), if any.
std::optional<MountEntry> top_mount_at(const std::string& path);

// "/scheme/" or "rel/dir" -> the absolute path the kernel will report for the mount, with
// symlinks in the parent resolved. The leaf is not touched (it may be a dead FUSE mount).
Result<std::string> absolute_mountpoint(std::string_view path);

// Clears stale FUSE mounts at `path` (their server died: ENOTCONN) with a warning, refuses a
// live FUSE mount there (EBUSY, naming the mountpoint), and creates the directory if missing.
Status prepare_mountpoint(const std::string& path);

// The fuse control filesystem is how a connection is aborted; systemd mounts it at boot, a
// container often does not. Mounts it if missing (we run as root).
Status ensure_fusectl_mounted();
// The connection's abort file, opened while `device` is known to be ours. Device numbers are
// reused as soon as a mount goes away, so the file is opened up front, not looked up by number
// at stop time: a write through this fd can only ever reach our connection (once it is gone
// the kernel detaches the file from it and the write does nothing).
Result<UniqueFd> open_abort_file(MountDevice device);
// Fails every request in flight on the connection and wakes every thread reading /dev/fuse.
Status abort_connection(const UniqueFd& abort_file);
// The kernel offers at most 128 KiB of readahead in FUSE_INIT and only lets a server lower it;
// the bdi knob raises it after the handshake.
Status set_readahead_kb(MountDevice device, unsigned kb);

}  // namespace bridge::host::fuse_impl
