#include "bridge-guest/engines/mount/attr_conv.h"

#include <fcntl.h>
#include <unistd.h>

#include "bridge-guest/engines/mount/sys_error.h"

namespace bridge::guest::mnt {

namespace {

Timestamp to_timestamp(const timespec& ts) {
  return Timestamp{static_cast<int64_t>(ts.tv_sec), static_cast<uint32_t>(ts.tv_nsec)};
}

Result<timespec> to_timespec(const TimeSet& t, std::string_view path) {
  switch (t.kind) {
    case TimeSet::Kind::omit:
      return timespec{0, UTIME_OMIT};
    case TimeSet::Kind::now:
      return timespec{0, UTIME_NOW};
    case TimeSet::Kind::at:
      break;
  }
  if (t.at.nsec >= 1'000'000'000u) return sys_error(EINVAL, "utimensat (nanoseconds)", path);
  return timespec{static_cast<time_t>(t.at.sec), static_cast<long>(t.at.nsec)};
}

}  // namespace

Attr to_attr(const struct stat& st) {
  Attr a;
  a.ino = st.st_ino;
  a.mode = st.st_mode;
  a.nlink = static_cast<uint32_t>(st.st_nlink);
  a.uid = st.st_uid;
  a.gid = st.st_gid;
  a.size = static_cast<uint64_t>(st.st_size);
  a.blocks = static_cast<uint64_t>(st.st_blocks);
  a.blksize = static_cast<uint32_t>(st.st_blksize);
  a.rdev = st.st_rdev;
  a.atime = to_timestamp(st.st_atim);
  a.mtime = to_timestamp(st.st_mtim);
  a.ctime = to_timestamp(st.st_ctim);
  return a;
}

StatFs to_statfs(const struct statfs& s) {
  StatFs out;
  out.block_size = static_cast<uint32_t>(s.f_bsize);
  out.fragment_size = static_cast<uint32_t>(s.f_frsize);
  out.blocks = s.f_blocks;
  out.blocks_free = s.f_bfree;
  out.blocks_available = s.f_bavail;
  out.files = s.f_files;
  out.files_free = s.f_ffree;
  out.name_max = static_cast<uint32_t>(s.f_namelen);
  return out;
}

Result<struct stat> raw_stat(int fd, std::string_view what, std::string_view path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return last_error(what, path);
  return st;
}

Result<Attr> stat_fd(int fd, std::string_view what, std::string_view path) {
  auto st = raw_stat(fd, what, path);
  if (!st) return st.error();
  return to_attr(*st);
}

Result<std::array<timespec, 2>> to_timespecs(const SetAttr& changes, std::string_view path) {
  auto atime = to_timespec(changes.atime, path);
  if (!atime) return atime.error();
  auto mtime = to_timespec(changes.mtime, path);
  if (!mtime) return mtime.error();
  return std::array<timespec, 2>{*atime, *mtime};
}

bool changes_times(const SetAttr& changes) {
  return changes.atime.kind != TimeSet::Kind::omit || changes.mtime.kind != TimeSet::Kind::omit;
}

Status chown_fd(int fd, const SetAttr& changes, std::string_view path) {
  if (!changes.uid && !changes.gid) return {};
  // (uid_t)-1 / (gid_t)-1 leave that id unchanged.
  uid_t uid = changes.uid ? *changes.uid : static_cast<uid_t>(-1);
  gid_t gid = changes.gid ? *changes.gid : static_cast<gid_t>(-1);
  if (::fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
    return last_error("chown", path);
  return {};
}

Status set_times_fd(int fd, const SetAttr& changes, std::string_view path) {
  if (!changes_times(changes)) return {};
  auto ts = to_timespecs(changes, path);
  if (!ts) return ts.error();
  // AT_EMPTY_PATH: the object fd refers to (a symlink itself when fd is an O_PATH fd of one).
  if (::utimensat(fd, "", ts->data(), AT_EMPTY_PATH) != 0) return last_error("utimensat", path);
  return {};
}

}  // namespace bridge::guest::mnt
