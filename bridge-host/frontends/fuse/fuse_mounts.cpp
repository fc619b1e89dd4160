#include "bridge-host/frontends/fuse/fuse_mounts.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <system_error>

#include <spdlog/spdlog.h>

#include "common/unique_fd.h"

namespace bridge::host::fuse_impl {
namespace {

constexpr const char* kFusectlDir = "/sys/fs/fuse/connections";
constexpr int kMaxStaleMounts = 16;  // stale mounts stacked by repeated crashes

// mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo octal.
std::string unescape_octal(std::string_view in) {
  auto is_oct = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '\\' && i + 3 < in.size() && is_oct(in[i + 1]) && is_oct(in[i + 2]) &&
        is_oct(in[i + 3])) {
      out += static_cast<char>((in[i + 1] - '0') * 64 + (in[i + 2] - '0') * 8 + (in[i + 3] - '0'));
      i += 3;
    } else {
      out += in[i];
    }
  }
  return out;
}

std::vector<std::string_view> split_spaces(std::string_view line) {
  std::vector<std::string_view> fields;
  while (!line.empty()) {
    auto space = line.find(' ');
    if (space != 0) fields.push_back(line.substr(0, space));
    if (space == std::string_view::npos) break;
    line.remove_prefix(space + 1);
  }
  return fields;
}

std::optional<MountDevice> parse_device(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  MountDevice dev;
  auto major = text.substr(0, colon);
  auto minor = text.substr(colon + 1);
  if (std::from_chars(major.data(), major.data() + major.size(), dev.major).ec != std::errc{} ||
      std::from_chars(minor.data(), minor.data() + minor.size(), dev.minor).ec != std::errc{})
    return std::nullopt;
  return dev;
}

Status write_text_file(const std::string& path, std::string_view text) {
  // INVARIANT: a raw open/write on a sysfs or fusectl attribute; the fd is owned by UniqueFd.
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return make_error(errno, "open " + path);
  if (::write(fd.get(), text.data(), text.size()) < 0) return make_error(errno, "write " + path);
  return {};
}

// Forces a GETATTR to the server (the kernel may answer plain stat() from its attribute cache):
// a dead server's mount answers ENOTCONN, a live one answers.
int probe_mount(const std::string& path) {
  struct statx stx;
  // INVARIANT: raw syscall; stx is a local the kernel fills.
  if (::statx(AT_FDCWD, path.c_str(), AT_STATX_FORCE_SYNC | AT_NO_AUTOMOUNT, STATX_TYPE, &stx) == 0)
    return 0;
  return errno;
}

bool is_fuse_type(std::string_view fstype) {
  return fstype.starts_with("fuse");
}

// One pass: 1 if a stale mount was cleared, 0 if nothing in the way, or an error.
Result<bool> clear_one_stale_mount(const std::string& path) {
  auto top = top_mount_at(path);
  if (!top || !is_fuse_type(top->fstype)) return false;
  int probe = probe_mount(path);
  if (probe == 0) {
    return make_error(EBUSY, "mountpoint " + path +
                                 " is already in use by a live FUSE filesystem (" + top->fstype +
                                 ", source " + top->source +
                                 "); stop the bridge-host serving it or unmount it");
  }
  if (probe != ENOTCONN)
    return make_error(probe, "cannot probe the FUSE mount at " + path + ": " +
                                 std::generic_category().message(probe));
  spdlog::warn("clearing stale FUSE mount at {} ({}, source {}) left by a crashed run", path,
               top->fstype, top->source);
  if (::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0)
    return make_error(errno, "cannot unmount the stale FUSE mount at " + path);
  return true;
}

}  // namespace

std::optional<MountEntry> parse_mountinfo_line(std::string_view line) {
  // id parent major:minor root mount-point options [optional...] - fstype source super-options
  auto fields = split_spaces(line);
  std::size_t dash = 6;
  while (dash < fields.size() && fields[dash] != "-") ++dash;
  if (fields.size() < 5 || dash + 2 >= fields.size()) return std::nullopt;
  auto device = parse_device(fields[2]);
  if (!device) return std::nullopt;
  return MountEntry{.device = *device,
                    .mount_point = unescape_octal(fields[4]),
                    .fstype = std::string(fields[dash + 1]),
                    .source = unescape_octal(fields[dash + 2])};
}

Result<std::vector<MountEntry>> read_mountinfo() {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return make_error(errno ? errno : EIO, "cannot read /proc/self/mountinfo");
  std::vector<MountEntry> entries;
  for (std::string line; std::getline(in, line);) {
    if (auto entry = parse_mountinfo_line(line)) entries.push_back(std::move(*entry));
  }
  return entries;
}

std::optional<MountEntry> top_mount_at(const std::string& path) {
  auto entries = read_mountinfo();
  if (!entries) return std::nullopt;
  std::optional<MountEntry> top;
  for (auto& entry : *entries) {
    if (entry.mount_point == path) top = std::move(entry);
  }
  return top;
}

Result<std::string> absolute_mountpoint(std::string_view text) {
  if (text.empty()) return make_error(EINVAL, "the FUSE mountpoint is empty");
  std::error_code ec;
  auto path = std::filesystem::absolute(std::filesystem::path(text), ec).lexically_normal();
  if (ec)
    return make_error(ec.value(), "cannot make mountpoint " + std::string(text) + " absolute");
  if (!path.has_filename()) path = path.parent_path();  // "/scheme/" -> "/scheme"
  if (path == path.root_path()) return make_error(EINVAL, "cannot mount the scheme root over /");
  auto parent = std::filesystem::weakly_canonical(path.parent_path(), ec);
  if (ec) return make_error(ec.value(), "cannot resolve the parent of mountpoint " + path.string());
  return (parent / path.filename()).string();
}

Status prepare_mountpoint(const std::string& path) {
  for (int cleared = 0;; ++cleared) {
    auto result = clear_one_stale_mount(path);
    if (!result) return result.error();
    if (!*result) break;
    if (cleared == kMaxStaleMounts)
      return make_error(EBUSY, "more than 16 stale FUSE mounts stacked at " + path);
  }
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return make_error(ec.value(), "cannot create mountpoint " + path + ": " + ec.message());
  if (!std::filesystem::is_directory(path, ec))
    return make_error(ENOTDIR, "mountpoint " + path + " is not a directory");
  return {};
}

Status ensure_fusectl_mounted() {
  auto top = top_mount_at(kFusectlDir);
  if (top && top->fstype == "fusectl") return {};
  if (::mount("fusectl", kFusectlDir, "fusectl", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
    return make_error(errno, std::string("cannot mount fusectl at ") + kFusectlDir);
  spdlog::info(
      "mounted the fuse control filesystem at {} (needed to stop the FUSE frontend "
      "promptly)",
      kFusectlDir);
  return {};
}

Result<UniqueFd> open_abort_file(MountDevice device) {
  // The control directory is named after the kernel's internal dev_t: major << 20 | minor.
  const unsigned long id = (static_cast<unsigned long>(device.major) << 20) | device.minor;
  const std::string path = std::string(kFusectlDir) + "/" + std::to_string(id) + "/abort";
  // INVARIANT: raw open of a fusectl attribute; the fd is owned by the returned UniqueFd.
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return make_error(errno, "open " + path);
  return fd;
}

Status abort_connection(const UniqueFd& abort_file) {
  // INVARIANT: raw write to the fusectl attribute opened by open_abort_file().
  if (::write(abort_file.get(), "1", 1) < 0) return make_error(errno, "write to fusectl abort");
  return {};
}

Status set_readahead_kb(MountDevice device, unsigned kb) {
  return write_text_file("/sys/class/bdi/" + std::to_string(device.major) + ":" +
                             std::to_string(device.minor) + "/read_ahead_kb",
                         std::to_string(kb));
}

}  // namespace bridge::host::fuse_impl
