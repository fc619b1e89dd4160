#include "bridge-host/frontends/fuse/fuse_operations.h"

#include <algorithm>

#include "bridge-host/frontends/fuse/fuse_state.h"

namespace bridge::host::fuse_impl {
namespace {

// libfuse caps a request at 256 pages; the kernel's default max_pages_limit is the same.
constexpr unsigned kMaxRequestBytes = 1u << 20;

void* init(fuse_conn_info* conn, fuse_config* cfg) {
  FrontendState& state = current_state();
  // The guest's inode numbers are per export: two schemes can hand out the same one, so the
  // kernel's own node ids stay the identity (use_ino off).
  cfg->use_ino = 0;
  cfg->readdir_ino = 0;
  cfg->entry_timeout = state.options.entry_timeout;
  cfg->attr_timeout = state.options.attr_timeout;
  cfg->negative_timeout = state.options.negative_timeout;
  // Keep the page cache across opens while mtime and size stay the same.
  cfg->auto_cache = 1;
  cfg->ac_attr_timeout_set = 1;
  cfg->ac_attr_timeout = state.options.attr_timeout;
  // Calls on open files go by FileId, which stays valid after unlink on the guest, so there is
  // no need for libfuse's ".fuse_hidden" renames; nullpath_ok lets those calls arrive without a
  // path (which an unlinked file no longer has, and which read/write do not need).
  cfg->hard_remove = 1;
  cfg->nullpath_ok = 1;
  // Big requests: fewer round trips to the guest for sequential I/O. Reads are split per
  // scheme max_io() in the read operation, so the mount-wide limit need not know the schemes.
  conn->max_write = std::min(conn->max_write, kMaxRequestBytes);
  state.mark_initialized();
  return &state;
}

}  // namespace

fuse_operations make_operations() {
  return fuse_operations{
      .getattr = ops::getattr,
      .readlink = ops::readlink,
      .mknod = ops::mknod,
      .mkdir = ops::mkdir,
      .unlink = ops::unlink,
      .rmdir = ops::rmdir,
      .symlink = ops::symlink,
      .rename = ops::rename,
      .link = ops::link,
      .chmod = ops::chmod,
      .chown = ops::chown,
      .truncate = ops::truncate,
      .open = ops::open,
      .read = ops::read,
      .write = ops::write,
      .statfs = ops::statfs,
      .flush = ops::flush,
      .release = ops::release,
      .fsync = ops::fsync,
      .setxattr = ops::setxattr,
      .getxattr = ops::getxattr,
      .listxattr = ops::listxattr,
      .removexattr = ops::removexattr,
      .opendir = ops::opendir,
      .readdir = ops::readdir,
      .releasedir = ops::releasedir,
      .init = init,
      .access = ops::access,
      .create = ops::create,
      .utimens = ops::utimens,
  };
}

}  // namespace bridge::host::fuse_impl
