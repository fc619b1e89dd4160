// New inodes: regular files (through open), directories, symlinks, and hard links.
//
// Order for every creation: allocate and write the inode, then add the directory entry; if the
// entry cannot be added the inode is freed again, so a failure leaves nothing behind.

#include <string>

#include "bridge-guest/engines/ext2fs/ext2fs_error.h"
#include "bridge-guest/engines/ext2fs/ext2fs_ops.h"

namespace bridge::guest::ext2 {

namespace {

struct Owner {
  uint32_t uid = 0;
  uint32_t gid = 0;
  bool setgid_parent = false;
};

// The caller owns a new inode; under a set-group-ID directory it takes the directory's group.
Result<Owner> new_owner(Ext2Fs& fs, Ino parent, const Creds& creds, std::string_view path) {
  auto dir = fs.read_inode(parent, "create: read parent", path);
  if (!dir) return dir.error();
  if (dir->raw.i_mode & LINUX_S_ISGID) return Owner{creds.uid, dir->gid(), true};
  return Owner{creds.uid, creds.gid, false};
}

Result<Ino> allocate_ino(Ext2Fs& fs, Ino parent, uint32_t mode, std::string_view path) {
  Ino ino = 0;
  errcode_t err = ext2fs_new_inode(fs.fs(), parent, static_cast<int>(mode), nullptr, &ino);
  if (err) return ext2_error(err, "create: ext2fs_new_inode", path);
  return ino;
}

void stamp_new(ext2_filsys fs, Inode& inode, const Owner& owner) {
  inode.set_uid(owner.uid);
  inode.set_gid(owner.gid);
  if (inode.raw.i_extra_isize == 0) inode.raw.i_extra_isize = new_extra_isize(fs);
  Timestamp t = now();
  for (auto f : {TimeField::atime, TimeField::mtime, TimeField::ctime, TimeField::crtime})
    set_time(inode, f, t);
}

// Writes a brand-new inode: ext2fs_write_new_inode zeroes the on-disk slot beyond our copy
// (stale in-inode xattrs of a previous owner) but only takes the 128-byte base, so the extra
// fields (nanoseconds, crtime) follow in a second, full write.
Status write_new(Ext2Fs& fs, Ino ino, Inode& inode, std::string_view path) {
  errcode_t err = ext2fs_write_new_inode(fs.fs(), ino, inode.base());
  if (err) return ext2_error(err, "create: ext2fs_write_new_inode", path);
  return fs.write_inode(ino, inode, "create: write inode", path);
}

// Links a freshly made inode under dir/name; on failure frees it again. parent_counted: the
// parent's link count already includes the new directory's "..".
Status link_new(Ext2Fs& fs, Ino dir, const std::string& name, Ino ino, Inode& inode,
                std::string_view path, bool parent_counted = false) {
  auto st = add_entry(fs, dir, name, ino, inode.mode(), path);
  if (st) return update_dir(fs, dir, 0, path);
  // Best effort: the add_entry error is the one to report.
  inode.raw.i_links_count = 0;
  (void)free_inode(fs, ino, inode, path);
  if (parent_counted) (void)update_dir(fs, dir, -1, path);
  return st;
}

// A creatable place: the parent exists, the name is free, and the export is writable.
Result<Lookup> prepare_create(Ext2Fs& fs, const RelPath& path, std::string_view what) {
  if (path.is_root()) return errno_error(EEXIST, what, path.str());
  auto found = walk(fs, path, false);
  if (!found) return found.error();
  if (found->ino != 0) return errno_error(EEXIST, what, path.str());
  if (auto st = fs.begin_mutation(what, path.str()); !st) return st.error();
  return found;
}

Status check_symlink_target(std::string_view target, uint32_t block_size, std::string_view path) {
  if (target.empty()) return errno_error(ENOENT, "symlink (empty target)", path);
  if (target.find('\0') != std::string_view::npos)
    return errno_error(EINVAL, "symlink (NUL in target)", path);
  // The kernel's limit: the target and its NUL must fit in one block.
  if (target.size() >= block_size) return errno_error(ENAMETOOLONG, "symlink", path);
  return {};
}

}  // namespace

Result<Ino> create_file(Ext2Fs& fs, Ino dir, const std::string& name, uint32_t mode,
                        const Creds& creds, std::string_view path) {
  if (name.size() > kNameMax) return errno_error(ENAMETOOLONG, "create", path);
  auto owner = new_owner(fs, dir, creds, path);
  if (!owner) return owner.error();
  uint32_t full_mode = LINUX_S_IFREG | (mode & 07777);
  auto ino = allocate_ino(fs, dir, full_mode, path);
  if (!ino) return ino.error();

  Inode inode;
  inode.raw.i_mode = static_cast<uint16_t>(full_mode);
  inode.raw.i_links_count = 1;
  stamp_new(fs.fs(), inode, *owner);
  if (ext2fs_has_feature_extents(fs.fs()->super)) {
    // Opening an extent handle on an empty inode writes the extent header into its i_block and
    // sets EXT4_EXTENTS_FL: the canonical way to make an empty extent-mapped file.
    ext2_extent_handle_t handle = nullptr;
    errcode_t err = ext2fs_extent_open2(fs.fs(), *ino, inode.base(), &handle);
    if (err) return ext2_error(err, "create: ext2fs_extent_open2", path);
    ext2fs_extent_free(handle);
  }
  if (auto st = write_new(fs, *ino, inode, path); !st) return st.error();
  ext2fs_inode_alloc_stats2(fs.fs(), *ino, +1, 0);
  if (auto st = link_new(fs, dir, name, *ino, inode, path); !st) return st.error();
  return *ino;
}

Result<Attr> op_mkdir(Ext2Fs& fs, const RelPath& path, uint32_t mode, const Creds& creds) {
  const std::string text = path.str();
  auto place = prepare_create(fs, path, "mkdir");
  if (!place) return place.error();
  auto owner = new_owner(fs, place->dir, creds, text);
  if (!owner) return owner.error();
  auto ino = allocate_ino(fs, place->dir, LINUX_S_IFDIR | 0755, text);
  if (!ino) return ino.error();
  // Without a name, ext2fs_mkdir builds the inode and its "."/".." block, accounts for it and
  // bumps the parent's link count, but links nothing: add_entry below can grow the parent.
  errcode_t err = ext2fs_mkdir(fs.fs(), place->dir, *ino, nullptr);
  if (err) return ext2_error(err, "mkdir: ext2fs_mkdir", text);

  auto inode = fs.read_inode(*ino, "mkdir: read inode", text);
  if (!inode) return inode.error();
  uint32_t sgid = owner->setgid_parent ? LINUX_S_ISGID : 0;
  inode->raw.i_mode = static_cast<uint16_t>(LINUX_S_IFDIR | (mode & 01777) | sgid);
  stamp_new(fs.fs(), *inode, *owner);
  if (auto st = fs.write_inode(*ino, *inode, "mkdir: write inode", text); !st) return st.error();
  if (auto st = link_new(fs, place->dir, place->name, *ino, *inode, text, true); !st)
    return st.error();
  return to_attr(fs.fs(), *ino, *inode);
}

Result<Attr> op_symlink(Ext2Fs& fs, const RelPath& path, std::string_view target,
                        const Creds& creds) {
  const std::string text = path.str();
  if (auto st = check_symlink_target(target, fs.block_size(), text); !st) return st.error();
  auto place = prepare_create(fs, path, "symlink");
  if (!place) return place.error();
  auto owner = new_owner(fs, place->dir, creds, text);
  if (!owner) return owner.error();
  auto ino = allocate_ino(fs, place->dir, LINUX_S_IFLNK | 0777, text);
  if (!ino) return ino.error();
  // Without a name, ext2fs_symlink only builds the inode (fast: target in i_block; slow: one
  // data block) and accounts for it.
  std::string owned_target(target);
  errcode_t err = ext2fs_symlink(fs.fs(), place->dir, *ino, nullptr, owned_target.c_str());
  if (err) return ext2_error(err, "symlink: ext2fs_symlink", text);

  auto inode = fs.read_inode(*ino, "symlink: read inode", text);
  if (!inode) return inode.error();
  stamp_new(fs.fs(), *inode, *owner);
  if (auto st = fs.write_inode(*ino, *inode, "symlink: write inode", text); !st) return st.error();
  if (auto st = link_new(fs, place->dir, place->name, *ino, *inode, text); !st) return st.error();
  return to_attr(fs.fs(), *ino, *inode);
}

Result<Attr> op_link(Ext2Fs& fs, const RelPath& existing, const RelPath& new_path) {
  const std::string text = new_path.str();
  auto src = walk_existing(fs, existing, false);
  if (!src) return src.error();
  auto inode = fs.read_inode(src->ino, "link", existing.str());
  if (!inode) return inode.error();
  if (inode->is_dir()) return errno_error(EPERM, "link (directory)", existing.str());
  auto place = prepare_create(fs, new_path, "link");
  if (!place) return place.error();
  if (inode->raw.i_links_count >= kLinkMax) return errno_error(EMLINK, "link", existing.str());

  if (auto st = add_entry(fs, place->dir, place->name, src->ino, inode->mode(), text); !st)
    return st.error();
  inode->raw.i_links_count++;
  set_time(*inode, TimeField::ctime, now());
  if (auto st = fs.write_inode(src->ino, *inode, "link: write inode", text); !st) return st.error();
  if (auto st = update_dir(fs, place->dir, 0, text); !st) return st.error();
  return to_attr(fs.fs(), src->ino, *inode);
}

}  // namespace bridge::guest::ext2
