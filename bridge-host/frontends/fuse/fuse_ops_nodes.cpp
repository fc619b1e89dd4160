// Names and attributes: lookups, creation and removal of names, attribute changes, statfs.
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "bridge-host/frontends/fuse/fuse_operations.h"
#include "bridge-host/frontends/fuse/fuse_state.h"

namespace bridge::host::fuse_impl::ops {
namespace {

int reply_attr(const Result<Attr>& attr, struct stat* st) {
  if (!attr) return negative_errno(attr.error());
  to_stat(*attr, *st);
  return 0;
}

// chmod, chown, truncate and utimens: by handle when the kernel sends one (the file may be
// unlinked and have no path), else by path.
int change_attr(const char* path, fuse_file_info* fi, const SetAttr& changes) {
  if (auto file = find_file(fi)) {
    auto done = file->scheme->fsetattr(file->id, changes);
    return done ? 0 : negative_errno(done.error());
  }
  auto target = resolve(path);
  if (!target) return negative_errno(target.error());
  if (target->path.is_mount_root()) return -EPERM;
  auto done = target->scheme->setattr(target->path.rel, changes);
  return done ? 0 : negative_errno(done.error());
}

int reply_status(const Status& status) {
  return status ? 0 : negative_errno(status.error());
}

}  // namespace

int getattr(const char* path, struct stat* st, fuse_file_info* fi) {
  return guarded("getattr", path, [&]() -> int {
    if (auto file = find_file(fi)) return reply_attr(file->scheme->fgetattr(file->id), st);
    auto target = resolve(path);
    if (!target) return negative_errno(target.error());
    if (target->path.is_mount_root()) {
      to_stat(current_state().root_attr, *st);
      return 0;
    }
    return reply_attr(target->scheme->getattr(target->path.rel, /*follow=*/false), st);
  });
}

int readlink(const char* path, char* buf, size_t size) {
  return guarded("readlink", path, [&]() -> int {
    auto target = resolve(path);
    if (!target) return negative_errno(target.error());
    if (target->path.rel.is_root() || size == 0) return -EINVAL;
    auto link = target->scheme->readlink(target->path.rel);
    if (!link) return negative_errno(link.error());
    // libfuse's contract: NUL-terminated, truncated to the buffer.
    const std::size_t n = std::min(link->size(), size - 1);
    std::memcpy(buf, link->data(), n);
    buf[n] = '\0';
    return 0;
  });
}

int mkdir(const char* path, mode_t mode) {
  return guarded("mkdir", path, [&]() -> int {
    auto target = resolve_inside(path);
    if (!target) return negative_errno(target.error());
    auto made = target->scheme->mkdir(target->path.rel, mode & 07777, caller_creds());
    return made ? 0 : negative_errno(made.error());
  });
}

int unlink(const char* path) {
  return guarded("unlink", path, [&]() -> int {
    auto target = resolve_inside(path);
    if (!target) return negative_errno(target.error());
    return reply_status(target->scheme->unlink(target->path.rel));
  });
}

int rmdir(const char* path) {
  return guarded("rmdir", path, [&]() -> int {
    auto target = resolve_inside(path);
    if (!target) return negative_errno(target.error());
    return reply_status(target->scheme->rmdir(target->path.rel));
  });
}

int symlink(const char* link_target, const char* path) {
  return guarded("symlink", path, [&]() -> int {
    auto target = resolve_inside(path);
    if (!target) return negative_errno(target.error());
    auto made = target->scheme->symlink(target->path.rel, link_target, caller_creds());
    return made ? 0 : negative_errno(made.error());
  });
}

int rename(const char* from, const char* to, unsigned int flags) {
  return guarded("rename", from, [&]() -> int {
    auto rename_flags = to_rename_flags(flags);
    if (!rename_flags) return negative_errno(rename_flags.error());
    auto source = resolve_inside(from);
    if (!source) return negative_errno(source.error());
    auto dest = resolve_inside(to);
    if (!dest) return negative_errno(dest.error());
    if (source->path.scheme != dest->path.scheme) return -EXDEV;  // mv falls back to copying
    return reply_status(source->scheme->rename(source->path.rel, dest->path.rel, *rename_flags));
  });
}

int link(const char* existing, const char* path) {
  return guarded("link", path, [&]() -> int {
    auto source = resolve_inside(existing);
    if (!source) return negative_errno(source.error());
    auto dest = resolve_inside(path);
    if (!dest) return negative_errno(dest.error());
    if (source->path.scheme != dest->path.scheme) return -EXDEV;
    auto made = source->scheme->link(source->path.rel, dest->path.rel);
    return made ? 0 : negative_errno(made.error());
  });
}

int chmod(const char* path, mode_t mode, fuse_file_info* fi) {
  return guarded("chmod", path, [&] {
    SetAttr changes;
    changes.mode = mode & 07777;
    return change_attr(path, fi, changes);
  });
}

int chown(const char* path, uid_t uid, gid_t gid, fuse_file_info* fi) {
  return guarded("chown", path, [&] {
    SetAttr changes;
    if (uid != static_cast<uid_t>(-1)) changes.uid = uid;  // -1: leave as is (chown(2))
    if (gid != static_cast<gid_t>(-1)) changes.gid = gid;
    return change_attr(path, fi, changes);
  });
}

int truncate(const char* path, off_t size, fuse_file_info* fi) {
  return guarded("truncate", path, [&]() -> int {
    if (size < 0) return -EINVAL;
    SetAttr changes;
    changes.size = static_cast<uint64_t>(size);
    return change_attr(path, fi, changes);
  });
}

int utimens(const char* path, const struct timespec tv[2], fuse_file_info* fi) {
  return guarded("utimens", path, [&] {
    SetAttr changes;
    if (tv) {
      changes.atime = to_time_set(tv[0]);
      changes.mtime = to_time_set(tv[1]);
    } else {  // utimensat(2) with times == NULL: both now
      changes.atime.kind = changes.mtime.kind = TimeSet::Kind::now;
    }
    return change_attr(path, fi, changes);
  });
}

int statfs(const char* path, struct statvfs* out) {
  return guarded("statfs", path, [&]() -> int {
    auto target = resolve(path);
    if (!target) return negative_errno(target.error());
    if (target->path.is_mount_root()) {
      to_statvfs(StatFs{.block_size = 4096, .name_max = static_cast<uint32_t>(kNameMax)}, *out);
      return 0;
    }
    auto fs = target->scheme->statfs();
    if (!fs) return negative_errno(fs.error());
    to_statvfs(*fs, *out);
    return 0;
  });
}

int access(const char*, int) {
  // Mounted with default_permissions: the kernel checks mode bits itself and does not call
  // this for access(2); answering 0 covers the callers that still reach it.
  return 0;
}

}  // namespace bridge::host::fuse_impl::ops
