#include "bridge-guest/engines/ext2fs/ext2fs_read_map.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "bridge-guest/engines/ext2fs/ext2fs_error.h"

namespace bridge::guest::ext2 {

namespace {

// A run of logical blocks that are physically contiguous (pblk != 0) or read as zeros (pblk 0).
struct Run {
  blk64_t pblk = 0;
  uint64_t blocks = 0;
};

struct ExtentCloser {
  void operator()(ext2_extent_handle_t h) const { ext2fs_extent_free(h); }
};
using ExtentHandle = std::unique_ptr<struct ext2_extent_handle, ExtentCloser>;

class BlockMapper {
 public:
  BlockMapper(ext2_filsys fs, Ino ino, const ext2_inode& inode)
      : fs_(fs), ino_(ino), inode_(inode) {}

  Status init(std::string_view path) {
    if (!(inode_.i_flags & EXT4_EXTENTS_FL)) {
      scratch_.resize(std::size_t{fs_->blocksize} * 2);  // what ext2fs_bmap2 wants as block_buf
      return {};
    }
    ext2_extent_handle_t raw = nullptr;
    errcode_t err = ext2fs_extent_open2(fs_, ino_, &inode_, &raw);
    if (err) return ext2_error(err, "ext2fs_extent_open2", path);
    extents_.reset(raw);
    return {};
  }

  // The run starting at lblk, at most max_blocks long.
  Result<Run> map(blk64_t lblk, uint64_t max_blocks, std::string_view path) {
    return extents_ ? map_extent(lblk, max_blocks, path) : map_blockmap(lblk, max_blocks, path);
  }

 private:
  Result<Run> map_extent(blk64_t lblk, uint64_t max_blocks, std::string_view path) {
    errcode_t err = ext2fs_extent_goto2(extents_.get(), 0, lblk);
    if (err == EXT2_ET_EXTENT_NOT_FOUND) return Run{0, std::min(hole_length(lblk), max_blocks)};
    if (err) return ext2_error(err, "ext2fs_extent_goto2", path);
    ext2fs_extent ext{};
    err = ext2fs_extent_get(extents_.get(), EXT2_EXTENT_CURRENT, &ext);
    if (err) return ext2_error(err, "ext2fs_extent_get", path);
    uint64_t n = std::min<uint64_t>(ext.e_lblk + ext.e_len - lblk, max_blocks);
    if (ext.e_flags & EXT2_EXTENT_FLAGS_UNINIT) return Run{0, n};
    return Run{ext.e_pblk + (lblk - ext.e_lblk), n};
  }

  // lblk is unmapped; the hole lasts until the next extent. After a failed goto the handle sits
  // on the extent before lblk, or on the first one after it.
  uint64_t hole_length(blk64_t lblk) {
    ext2fs_extent ext{};
    if (ext2fs_extent_get(extents_.get(), EXT2_EXTENT_CURRENT, &ext) == 0 &&
        (ext.e_flags & EXT2_EXTENT_FLAGS_LEAF) && ext.e_lblk > lblk)
      return ext.e_lblk - lblk;
    errcode_t err = ext2fs_extent_get(extents_.get(), EXT2_EXTENT_NEXT_LEAF, &ext);
    if (err == EXT2_ET_EXTENT_NO_NEXT) return std::numeric_limits<uint64_t>::max();
    if (err == 0 && ext.e_lblk > lblk) return ext.e_lblk - lblk;
    return 1;  // unsure: this one block is certainly a hole
  }

  Result<Run> map_blockmap(blk64_t lblk, uint64_t max_blocks, std::string_view path) {
    auto first = bmap(lblk, path);
    if (!first) return first.error();
    Run run{*first, 1};
    while (run.blocks < max_blocks) {
      auto next = bmap(lblk + run.blocks, path);
      if (!next) return next.error();
      bool contiguous = run.pblk == 0 ? *next == 0 : *next == run.pblk + run.blocks;
      if (!contiguous) break;
      ++run.blocks;
    }
    return run;
  }

  Result<blk64_t> bmap(blk64_t lblk, std::string_view path) {
    blk64_t pblk = 0;
    int ret_flags = 0;
    errcode_t err = ext2fs_bmap2(fs_, ino_, &inode_, scratch_.data(), 0, lblk, &ret_flags, &pblk);
    if (err) return ext2_error(err, "ext2fs_bmap2", path);
    return (ret_flags & BMAP_RET_UNINIT) ? 0 : pblk;
  }

  ext2_filsys fs_;
  Ino ino_;
  ext2_inode inode_;  // a private copy: the mapping functions take a non-const pointer
  ExtentHandle extents_;
  std::vector<char> scratch_;
};

// Reads part of a mapped run: whole blocks straight into dst with one io_channel read per run
// (above a few blocks unix_io first writes back its dirty cache, then issues a single pread), the
// unaligned head and tail through a one-block bounce buffer.
class RunReader {
 public:
  RunReader(ext2_filsys fs, std::string_view path)
      : fs_(fs), bs_(fs->blocksize), bounce_(bs_), path_(path) {}

  Status read(blk64_t pblk, uint64_t in_block, std::byte* dst, std::size_t bytes) {
    if (in_block != 0 || bytes < bs_) {
      std::size_t n = std::min<std::size_t>(bs_ - in_block, bytes);
      if (auto st = read_blocks(pblk, 1, bounce_.data()); !st) return st;
      std::memcpy(dst, bounce_.data() + in_block, n);
      ++pblk;
      dst += n;
      bytes -= n;
    }
    std::size_t full = bytes / bs_;
    if (full > 0) {
      if (auto st = read_blocks(pblk, full, dst); !st) return st;
      pblk += full;
      dst += full * bs_;
      bytes -= full * bs_;
    }
    if (bytes > 0) {
      if (auto st = read_blocks(pblk, 1, bounce_.data()); !st) return st;
      std::memcpy(dst, bounce_.data(), bytes);
    }
    return {};
  }

 private:
  Status read_blocks(blk64_t pblk, std::size_t count, std::byte* out) {
    constexpr std::size_t kMaxBlocksPerCall = 1 << 16;  // io_channel_read_blk64 takes an int
    while (count > 0) {
      std::size_t n = std::min(count, kMaxBlocksPerCall);
      errcode_t err = io_channel_read_blk64(fs_->io, pblk, static_cast<int>(n), out);
      if (err) return ext2_error(err, "read: io_channel_read_blk64", path_);
      pblk += n;
      out += n * bs_;
      count -= n;
    }
    return {};
  }

  ext2_filsys fs_;
  std::size_t bs_;
  std::vector<std::byte> bounce_;
  std::string_view path_;
};

}  // namespace

Result<std::size_t> read_mapped(Ext2Fs& fs, Ino ino, const ext2_inode& inode, uint64_t offset,
                                std::span<std::byte> out, std::string_view path) {
  ext2_filsys raw = fs.fs();
  const uint64_t bs = raw->blocksize;
  const uint64_t fs_blocks = ext2fs_blocks_count(raw->super);
  BlockMapper mapper(raw, ino, inode);
  if (auto st = mapper.init(path); !st) return st.error();
  RunReader reader(raw, path);

  std::size_t done = 0;
  while (done < out.size()) {
    uint64_t pos = offset + done;
    uint64_t in_block = pos % bs;
    uint64_t want_blocks = (in_block + (out.size() - done) + bs - 1) / bs;
    auto run = mapper.map(pos / bs, want_blocks, path);
    if (!run) return run.error();
    std::size_t bytes = static_cast<std::size_t>(
        std::min<uint64_t>(run->blocks * bs - in_block, out.size() - done));
    std::byte* dst = out.data() + done;
    if (run->pblk == 0) {
      std::memset(dst, 0, bytes);
    } else {
      if (run->pblk >= fs_blocks || run->blocks > fs_blocks - run->pblk)
        return make_error(EIO, "read " + std::string(path) +
                                   ": extent points outside the "
                                   "filesystem: run e2fsck -f " +
                                   fs.source());
      if (auto st = reader.read(run->pblk, in_block, dst, bytes); !st) return st.error();
    }
    done += bytes;
  }
  return done;
}

}  // namespace bridge::guest::ext2
