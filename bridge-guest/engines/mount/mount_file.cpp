#include "bridge-guest/engines/mount/mount_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>

#include "bridge-guest/engines/mount/attr_conv.h"
#include "bridge-guest/engines/mount/sys_error.h"

namespace bridge::guest::mnt {

Status MountFile::check_range(uint64_t offset, std::size_t length, std::string_view what) const {
  constexpr auto kMax = static_cast<uint64_t>(INT64_MAX);
  if (offset > kMax || length > kMax - offset) return sys_error(EINVAL, what, path_);
  return {};
}

Result<std::size_t> MountFile::read(uint64_t offset, std::span<std::byte> out) {
  if (is_dir_) return sys_error(EISDIR, "read", path_);
  if (!flags_.read) return sys_error(EBADF, "read (not open for reading)", path_);
  if (auto st = check_range(offset, out.size(), "read (offset)"); !st) return st.error();
  std::size_t done = 0;
  // pread may return less than asked before end of file (signals, huge requests): go on until
  // it returns 0, so a short count means end of file.
  while (done < out.size()) {
    ssize_t n =
        ::pread(fd_.get(), out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return last_error("read", path_);
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

Result<std::size_t> MountFile::write(uint64_t offset, std::span<const std::byte> data) {
  if (is_dir_) return sys_error(EISDIR, "write", path_);
  if (!flags_.write && !flags_.append)
    return sys_error(EBADF, "write (not open for writing)", path_);
  if (auto st = check_range(offset, data.size(), "write (offset)"); !st) return st.error();
  std::size_t done = 0;
  // With O_APPEND, Linux's pwrite ignores the offset and appends: what append asks for.
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd_.get(), data.data() + done, data.size() - done,
                         static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return last_error("write", path_);
    done += static_cast<std::size_t>(n);
  }
  return done;
}

Result<Attr> MountFile::getattr() {
  return stat_fd(fd_.get(), "getattr", path_);
}

// The same order as the path setattr: owner, mode, size, times.
Result<Attr> MountFile::setattr(const SetAttr& c) {
  if (read_only_) return sys_error(EROFS, "setattr", path_);
  if (c.size && is_dir_) return sys_error(EISDIR, "truncate", path_);
  if (c.size && *c.size > static_cast<uint64_t>(INT64_MAX))
    return sys_error(EFBIG, "truncate", path_);
  if (auto ts = to_timespecs(c, path_); !ts) return ts.error();
  if (auto st = chown_fd(fd_.get(), c, path_); !st) return st.error();
  if (c.mode && ::fchmod(fd_.get(), *c.mode & 07777) != 0) return last_error("chmod", path_);
  if (c.size && ::ftruncate(fd_.get(), static_cast<off_t>(*c.size)) != 0)
    return last_error("truncate", path_);
  if (auto st = set_times_fd(fd_.get(), c, path_); !st) return st.error();
  return getattr();
}

Status MountFile::fsync(bool data_only) {
  int rc = data_only ? ::fdatasync(fd_.get()) : ::fsync(fd_.get());
  if (rc != 0) return last_error(data_only ? "fdatasync" : "fsync", path_);
  return {};
}

}  // namespace bridge::guest::mnt
