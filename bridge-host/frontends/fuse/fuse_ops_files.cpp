// Open files: open/create hand out a handle for the scheme's FileId; read and write go by that
// handle, split into calls of at most the scheme's max_io(). This is the hot path: no
// allocation per call beyond what libfuse does itself.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <span>

#include "bridge-host/frontends/fuse/fuse_operations.h"
#include "bridge-host/frontends/fuse/fuse_state.h"

namespace bridge::host::fuse_impl::ops {
namespace {

int open_in(const Target& target, const OpenFlags& flags, uint32_t mode, fuse_file_info* fi) {
  auto opened = target.scheme->open(target.path.rel, flags, mode, caller_creds());
  if (!opened) return negative_errno(opened.error());
  auto file = std::make_shared<OpenFile>(OpenFile{
      .scheme = target.scheme,
      .id = opened->id,
      .max_io = std::max<std::size_t>(target.scheme->max_io(), 1),
  });
  auto handle = current_state().files.insert(std::move(file));
  if (!handle) {
    (void)target.scheme->close(opened->id);  // EMFILE: nobody will ever release it
    return negative_errno(handle.error());
  }
  fi->fh = *handle;
  return 0;
}

// The kernel keeps requests far below INT_MAX (max_read, max_write); the clamp only keeps the
// byte count representable in the int libfuse wants back.
std::size_t clamp_request(std::size_t size) {
  return std::min<std::size_t>(size, INT_MAX);
}

}  // namespace

int mknod(const char* path, mode_t mode, dev_t) {
  return guarded("mknod", path, [&]() -> int {
    // Schemes serve regular files, directories and symlinks; no device nodes or FIFOs.
    if (!S_ISREG(mode)) return -EPERM;
    auto target = resolve_inside(path);
    if (!target) return negative_errno(target.error());
    OpenFlags flags{.read = false, .write = true, .create = true, .exclusive = true};
    auto opened = target->scheme->open(target->path.rel, flags, mode & 07777, caller_creds());
    if (!opened) return negative_errno(opened.error());
    (void)target->scheme->close(opened->id);
    return 0;
  });
}

int open(const char* path, fuse_file_info* fi) {
  return guarded("open", path, [&]() -> int {
    auto target = resolve(path);
    if (!target) return negative_errno(target.error());
    if (target->path.is_mount_root()) return -EISDIR;
    return open_in(*target, to_open_flags(fi->flags), 0, fi);
  });
}

int create(const char* path, mode_t mode, fuse_file_info* fi) {
  return guarded("create", path, [&]() -> int {
    auto target = resolve_inside(path);
    if (!target) return negative_errno(target.error());
    OpenFlags flags = to_open_flags(fi->flags);
    flags.create = true;
    return open_in(*target, flags, mode & 07777, fi);
  });
}

int read(const char* path, char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  return guarded("read", path, [&]() -> int {
    auto file = find_file(fi);
    if (!file) return -EBADF;
    if (offset < 0) return -EINVAL;
    size = clamp_request(size);
    // INVARIANT: buf is libfuse's reply buffer of `size` bytes; std::byte may alias any object.
    auto out = std::span(reinterpret_cast<std::byte*>(buf), size);
    std::size_t done = 0;
    while (done < size) {
      const auto chunk = out.subspan(done, std::min(size - done, file->max_io));
      auto got = file->scheme->read(file->id, static_cast<uint64_t>(offset) + done, chunk);
      if (!got) return done ? static_cast<int>(done) : negative_errno(got.error());
      if (*got > chunk.size()) return -EIO;  // a scheme claiming more than it was given
      done += *got;
      if (*got < chunk.size()) break;  // end of file
    }
    return static_cast<int>(done);
  });
}

int write(const char* path, const char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  return guarded("write", path, [&]() -> int {
    auto file = find_file(fi);
    if (!file) return -EBADF;
    if (offset < 0) return -EINVAL;
    size = clamp_request(size);
    // INVARIANT: buf is the kernel's write payload of `size` bytes; std::byte may alias it.
    auto data = std::span(reinterpret_cast<const std::byte*>(buf), size);
    std::size_t done = 0;
    while (done < size) {
      const auto chunk = data.subspan(done, std::min(size - done, file->max_io));
      auto put = file->scheme->write(file->id, static_cast<uint64_t>(offset) + done, chunk);
      if (!put) return done ? static_cast<int>(done) : negative_errno(put.error());
      if (*put > chunk.size()) return -EIO;
      done += *put;
      if (*put == 0) break;  // no progress: report the short write rather than spin
    }
    return static_cast<int>(done);
  });
}

int flush(const char* path, fuse_file_info* fi) {
  return guarded("flush", path, [&]() -> int {
    // Writes reach the scheme synchronously, so close(2) has nothing buffered to push; flush is
    // not fsync, and turning every close into a guest fsync would cost a round trip and a disk
    // flush each.
    return find_file(fi) ? 0 : -EBADF;
  });
}

int fsync(const char* path, int datasync, fuse_file_info* fi) {
  return guarded("fsync", path, [&]() -> int {
    auto file = find_file(fi);
    if (!file) return -EBADF;
    auto synced = file->scheme->fsync(file->id, datasync != 0);
    return synced ? 0 : negative_errno(synced.error());
  });
}

int release(const char* path, fuse_file_info* fi) {
  return guarded("release", path, [&]() -> int {
    auto file = current_state().files.remove(fi->fh);
    if (!file) return -EBADF;
    auto closed = file->scheme->close(file->id);
    if (!closed)  // the kernel ignores release's result; the log is all that is left
      spdlog::debug("fuse release: closing file {} failed: errno {} {}", file->id, closed.code(),
                    closed.error().context);
    return 0;
  });
}

}  // namespace bridge::host::fuse_impl::ops
