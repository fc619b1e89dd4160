// readdir without server-side state: every page opens the directory afresh, seeks to the cookie
// and reads with getdents64. A cookie is the d_off of the last entry returned, which ext4 (hash
// order) and btrfs (index order) accept from lseek on a fresh fd of the same directory.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "bridge-guest/engines/mount/attr_conv.h"
#include "bridge-guest/engines/mount/mount_ops.h"
#include "bridge-guest/engines/mount/sys_error.h"

namespace bridge::guest::mnt {

namespace {

constexpr std::size_t kDentsBuffer = 32 * 1024;

bool is_dot_or_dotdot(const char* name) {
  return std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0;
}

uint8_t type_from_mode(mode_t mode) {
  return static_cast<uint8_t>(IFTODT(mode));
}

// Fills one entry. False when the name vanished since getdents64 read it (then it is skipped).
Result<bool> fill_entry(int dir, const dirent64& d, bool with_attrs, DirEntry& out,
                        std::string_view path) {
  out.name = d.d_name;
  out.ino = d.d_ino;
  out.type = d.d_type;
  if (!with_attrs && d.d_type != DT_UNKNOWN) return true;
  struct stat st {};
  // One name straight from the directory: no '/', so nothing is resolved beyond dir.
  if (::fstatat(dir, d.d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return false;
    return last_error("readdir (stat " + out.name + ")", path);
  }
  out.type = type_from_mode(st.st_mode);
  if (with_attrs) out.attr = to_attr(st);
  return true;
}

class PageFiller {
 public:
  PageFiller(int dir, uint64_t cookie, uint32_t max_entries, bool with_attrs, std::string path)
      : dir_(dir), max_(max_entries), with_attrs_(with_attrs), path_(std::move(path)) {
    page_.next_cookie = cookie;
  }

  // Consumes one getdents64 batch. True when the page is full.
  Result<bool> take(const char* buf, std::size_t len) {
    for (std::size_t off = 0; off < len;) {
      // INVARIANT: getdents64 filled buf[0, len) with whole linux_dirent64 records, which
      // glibc's dirent64 lays out exactly; off advances by each record's d_reclen, so it
      // always points at the start of a record, and buf is operator new memory (aligned).
      const auto* d = reinterpret_cast<const dirent64*>(buf + off);
      if (page_.entries.size() == max_) return true;
      off += d->d_reclen;
      page_.next_cookie = static_cast<uint64_t>(d->d_off);
      if (is_dot_or_dotdot(d->d_name)) continue;
      DirEntry entry;
      auto kept = fill_entry(dir_, *d, with_attrs_, entry, path_);
      if (!kept) return kept.error();
      if (*kept) page_.entries.push_back(std::move(entry));
    }
    return false;
  }

  DirPage finish(bool end) {
    page_.end = end;
    return std::move(page_);
  }

 private:
  int dir_;
  uint32_t max_;
  bool with_attrs_;
  std::string path_;
  DirPage page_;
};

}  // namespace

Result<DirPage> op_readdir(const ConfinedRoot& root, const RelPath& dir, uint64_t cookie,
                           uint32_t max_entries, bool with_attrs) {
  const std::string text = dir.str();
  if (max_entries == 0) return sys_error(EINVAL, "readdir (max_entries 0)", text);
  if (cookie > static_cast<uint64_t>(INT64_MAX)) return sys_error(EINVAL, "readdir (cookie)", text);
  // As everywhere, the final name is not followed: a symlink to a directory is ENOTDIR.
  auto fd = root.open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, "readdir");
  if (!fd) return fd.error();
  if (::lseek(fd->get(), static_cast<off_t>(cookie), SEEK_SET) < 0)
    return last_error("readdir (seek to cookie)", text);

  PageFiller filler(fd->get(), cookie, max_entries, with_attrs, text);
  std::vector<char> buf(kDentsBuffer);
  for (;;) {
    ssize_t n = ::getdents64(fd->get(), buf.data(), buf.size());
    if (n < 0) return last_error("getdents64", text);
    if (n == 0) return filler.finish(true);
    auto full = filler.take(buf.data(), static_cast<std::size_t>(n));
    if (!full) return full.error();
    if (*full) return filler.finish(false);
  }
}

}  // namespace bridge::guest::mnt
