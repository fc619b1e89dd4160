// Bulk reads that bypass libext2fs's one-block-at-a-time file I/O: logical blocks are mapped to
// physical runs (extent tree or block map) and each run is read with one multi-block
// io_channel_read_blk64, which for more than a few blocks is a single pread() of the whole run.
//
// Coherence: reads go through the filesystem's own io channel, which writes back its dirty block
// cache before a large direct read, and an OpenInode never keeps a dirty file buffer between
// calls; so a read sees every byte written before it, without an fsync.
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "bridge-guest/engines/ext2fs/ext2fs_fs.h"
#include "common/result.h"

namespace bridge::guest::ext2 {

// Reads exactly out.size() bytes at offset; the caller has clamped the range to i_size and
// checked that the inode has no inline data. Holes and unwritten extents read as zeros.
Result<std::size_t> read_mapped(Ext2Fs& fs, Ino ino, const ext2_inode& inode, uint64_t offset,
                                std::span<std::byte> out, std::string_view path);

}  // namespace bridge::guest::ext2
