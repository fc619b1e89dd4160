// The libfuse operation table of the frontend. Each entry turns one FUSE call into calls on the
// FsScheme that owns the path (or the file handle), and answers the mount root itself.
#pragma once

#include "bridge-host/frontends/fuse/fuse_lib.h"

namespace bridge::host::fuse_impl {

fuse_operations make_operations();

// The table's entries, grouped by the file that implements them.
namespace ops {
// fuse_ops_nodes.cpp: names and attributes.
int getattr(const char* path, struct stat* st, fuse_file_info* fi);
int readlink(const char* path, char* buf, size_t size);
int mkdir(const char* path, mode_t mode);
int unlink(const char* path);
int rmdir(const char* path);
int symlink(const char* target, const char* path);
int rename(const char* from, const char* to, unsigned int flags);
int link(const char* existing, const char* path);
int chmod(const char* path, mode_t mode, fuse_file_info* fi);
int chown(const char* path, uid_t uid, gid_t gid, fuse_file_info* fi);
int truncate(const char* path, off_t size, fuse_file_info* fi);
int utimens(const char* path, const struct timespec tv[2], fuse_file_info* fi);
int statfs(const char* path, struct statvfs* out);
int access(const char* path, int mask);
// fuse_ops_files.cpp: open files.
int mknod(const char* path, mode_t mode, dev_t rdev);
int open(const char* path, fuse_file_info* fi);
int create(const char* path, mode_t mode, fuse_file_info* fi);
int read(const char* path, char* buf, size_t size, off_t offset, fuse_file_info* fi);
int write(const char* path, const char* buf, size_t size, off_t offset, fuse_file_info* fi);
int flush(const char* path, fuse_file_info* fi);
int fsync(const char* path, int datasync, fuse_file_info* fi);
int release(const char* path, fuse_file_info* fi);
// fuse_ops_dirs.cpp: directory listings.
int opendir(const char* path, fuse_file_info* fi);
int readdir(const char* path, void* buf, fuse_fill_dir_t filler, off_t offset, fuse_file_info* fi,
            fuse_readdir_flags flags);
int releasedir(const char* path, fuse_file_info* fi);
// fuse_ops_xattr.cpp: extended attributes.
int setxattr(const char* path, const char* name, const char* value, size_t size, int flags);
int getxattr(const char* path, const char* name, char* value, size_t size);
int listxattr(const char* path, char* list, size_t size);
int removexattr(const char* path, const char* name);
}  // namespace ops

}  // namespace bridge::host::fuse_impl
