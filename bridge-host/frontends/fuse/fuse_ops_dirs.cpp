// Directory listings: opendir makes a DirStream (the mount root lists the online schemes),
// readdir pages through it, releasedir drops it.
#include "bridge-host/frontends/fuse/fuse_operations.h"
#include "bridge-host/frontends/fuse/fuse_state.h"

namespace bridge::host::fuse_impl::ops {

int opendir(const char* path, fuse_file_info* fi) {
  return guarded("opendir", path, [&]() -> int {
    auto target = resolve(path);
    if (!target) return negative_errno(target.error());
    FrontendState& state = current_state();
    auto stream = target->path.is_mount_root()
                      ? std::make_shared<DirStream>(state.registry)
                      : std::make_shared<DirStream>(target->scheme, target->path.rel);
    auto handle = state.dirs.insert(std::move(stream));
    if (!handle) return negative_errno(handle.error());
    fi->fh = *handle;
    return 0;
  });
}

int readdir(const char* path, void* buf, fuse_fill_dir_t filler, off_t offset, fuse_file_info* fi,
            fuse_readdir_flags flags) {
  return guarded("readdir", path, [&]() -> int {
    // fh is a HandleTable handle from opendir, never a pointer.
    auto stream = current_state().dirs.find(fi->fh);
    if (!stream) return -EBADF;
    return stream->fill(buf, filler, offset, (flags & FUSE_READDIR_PLUS) != 0);
  });
}

int releasedir(const char* path, fuse_file_info* fi) {
  return guarded("releasedir", path,
                 [&]() -> int { return current_state().dirs.remove(fi->fh) ? 0 : -EBADF; });
}

}  // namespace bridge::host::fuse_impl::ops
