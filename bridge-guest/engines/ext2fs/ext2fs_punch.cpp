// Freeing a file's tail blocks, around a libext2fs 1.47.0 bug: punch_extent_blocks refuses
// (EXT2_ET_BAD_BLOCK_NUM) any extent piece that ends at the filesystem's very last block (an
// off-by-one fixed upstream in 2025). So before a punch, that one block is unmapped and freed
// here; the rest is left to ext2fs_punch.
#include <memory>
#include <optional>

#include "bridge-guest/engines/ext2fs/ext2fs_error.h"
#include "bridge-guest/engines/ext2fs/ext2fs_ops.h"

namespace bridge::guest::ext2 {

namespace {

struct ExtentCloser {
  void operator()(ext2_extent_handle_t h) const { ext2fs_extent_free(h); }
};
using ExtentHandle = std::unique_ptr<struct ext2_extent_handle, ExtentCloser>;

// The logical block that maps physical block `pblk`, if any.
Result<std::optional<blk64_t>> find_logical(ext2_extent_handle_t h, blk64_t pblk,
                                            std::string_view path) {
  ext2fs_extent ext{};
  errcode_t err = ext2fs_extent_get(h, EXT2_EXTENT_ROOT, &ext);
  while (err == 0) {
    if ((ext.e_flags & EXT2_EXTENT_FLAGS_LEAF) && pblk >= ext.e_pblk &&
        pblk < ext.e_pblk + ext.e_len)
      return std::optional<blk64_t>(ext.e_lblk + (pblk - ext.e_pblk));
    err = ext2fs_extent_get(h, EXT2_EXTENT_NEXT_LEAF, &ext);
  }
  if (err == EXT2_ET_EXTENT_NO_NEXT) return std::optional<blk64_t>();
  return ext2_error(err, "truncate: ext2fs_extent_get", path);
}

}  // namespace

Status release_last_block(Ext2Fs& fs, Ino ino, blk64_t from_lblk, std::string_view path) {
  ext2_filsys raw = fs.fs();
  const blk64_t last = ext2fs_blocks_count(raw->super) - 1;
  if (!raw->block_map || !ext2fs_test_block_bitmap2(raw->block_map, last)) return {};
  auto inode = fs.read_inode(ino, "truncate", path);
  if (!inode) return inode.error();
  if (!(inode->raw.i_flags & EXT4_EXTENTS_FL)) return {};

  ext2_extent_handle_t h_raw = nullptr;
  errcode_t err = ext2fs_extent_open2(raw, ino, inode->base(), &h_raw);
  if (err) return ext2_error(err, "truncate: ext2fs_extent_open2", path);
  ExtentHandle h(h_raw);
  auto lblk = find_logical(h.get(), last, path);
  if (!lblk) return lblk.error();
  if (!*lblk || **lblk < from_lblk) return {};
  // The block ends its extent (nothing lies after it), so unmapping only shortens the extent.
  err = ext2fs_extent_set_bmap(h.get(), **lblk, 0, 0);
  if (err) return ext2_error(err, "truncate: ext2fs_extent_set_bmap", path);
  h.reset();
  ext2fs_block_alloc_stats2(raw, last, -1);
  err = ext2fs_iblk_sub_blocks(raw, inode->base(), 1);
  if (err) return ext2_error(err, "truncate: ext2fs_iblk_sub_blocks", path);
  return fs.write_inode(ino, *inode, "truncate", path);
}

Status punch_all(Ext2Fs& fs, Ino ino, Inode& inode, std::string_view path) {
  ext2_filsys raw = fs.fs();
  // Fast symlinks and inline data keep their bytes in the inode: nothing to punch.
  if (!ext2fs_inode_has_valid_blocks2(raw, inode.base())) return {};
  if (auto st = fs.write_inode(ino, inode, "unlink", path); !st) return st;
  if (auto st = release_last_block(fs, ino, 0, path); !st) return st;
  auto fresh = fs.read_inode(ino, "unlink", path);
  if (!fresh) return fresh.error();
  inode = *fresh;
  errcode_t err = ext2fs_punch(raw, ino, inode.base(), nullptr, 0, ~0ULL);
  if (err) return ext2_error(err, "unlink: ext2fs_punch", path);
  return {};
}

}  // namespace bridge::guest::ext2
